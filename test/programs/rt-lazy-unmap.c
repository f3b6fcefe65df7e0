/* rt-lazy-unmap: 256 MiB of anonymous memory, each 4 KiB unit holding its number and a pattern of it.
 * SIGUSR1 unmaps the upper three quarters (after a lazy restore: pages cryo lazy-pages has not copied
 * yet, which it must then skip). On SIGTERM the lower quarter is checked byte for byte and the rest
 * must be gone. READY names the area. */
#include "rt.h"
#include <stdint.h>
#include <sys/mman.h>

#define UNITS 65536
#define UNIT 4096
#define KEPT (UNITS / 4)

static unsigned char *area;
static volatile sig_atomic_t unmapped;

static unsigned char pat(uint32_t i, uint32_t k) { return (unsigned char)(i * 13 + k * 7 + 1); }

static void on_usr1(int s) {
  (void)s;
  if (munmap(area + (size_t)KEPT * UNIT, (size_t)(UNITS - KEPT) * UNIT) == 0) unmapped = 1;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  area = mmap(NULL, (size_t)UNITS * UNIT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  for (uint32_t i = 0; i < UNITS; i++) {
    unsigned char *p = area + (size_t)i * UNIT;
    memcpy(p, &i, 4);
    for (uint32_t k = 4; k < UNIT; k++) p[k] = pat(i, k);
  }
  struct sigaction sa = { .sa_handler = on_usr1 };
  sigaction(SIGUSR1, &sa, NULL);
  rt_ready("area=%lx units=%d kept=%d\n", (unsigned long)area, UNITS, KEPT);
  rt_wait_term();
  RT_CHECK(unmapped, "SIGUSR1 did not unmap the upper part");
  unsigned char v;
  RT_CHECK(mincore(area + (size_t)KEPT * UNIT, UNIT, &v) < 0 && errno == ENOMEM, "the upper part is still mapped");
  for (uint32_t i = 0; i < KEPT; i++) {
    unsigned char *p = area + (size_t)i * UNIT;
    uint32_t pi;
    memcpy(&pi, p, 4);
    RT_CHECK(pi == i, "unit %u holds unit %u", i, pi);
    for (uint32_t k = 4; k < UNIT; k++) RT_CHECK(p[k] == pat(i, k), "unit %u byte %u is 0x%02x, want 0x%02x", i, k, p[k], pat(i, k));
  }
  rt_pass();
}
