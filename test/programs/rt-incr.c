/* rt-incr: keeps writing its memory, a few pages at a time, so that a chain of pre-dumps and a
 * dump each see different pages written. Each page of a 4 MiB area holds its number, its version
 * and a pattern of both; the versions are kept apart. On SIGTERM every page must be at the version
 * recorded for it, byte for byte: a page restored from an older dump of the chain has an older
 * version, a changed byte breaks the pattern. READY names the area. */
#include "rt.h"
#include <stdint.h>
#include <sys/mman.h>

#define NPAGES 1024
#define PAGE 4096

static unsigned char pat(uint32_t i, uint32_t v, uint32_t k) { return (unsigned char)(i * 31 + v * 7 + k * 13); }

static void fill(unsigned char *p, uint32_t i, uint32_t v) {
  for (uint32_t k = 8; k < PAGE; k++) p[k] = pat(i, v, k);
  memcpy(p, &i, 4);
  memcpy(p + 4, &v, 4);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  unsigned char *area = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint32_t *ver = mmap(NULL, NPAGES * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED || ver == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  /* Small pages: soft-dirty marks a transparent huge page written as a whole (a write to one of its
   * 4 KiB re-dumps its 2 MiB), where uffd-wp splits it; the guests' kernels give THPs always. */
  if (madvise(area, NPAGES * PAGE, MADV_NOHUGEPAGE) != 0) RT_FAIL("madvise: %s", strerror(errno));
  for (uint32_t i = 0; i < NPAGES; i++) fill(area + (size_t)i * PAGE, i, ver[i] = 1);
  rt_ready("area=%lx pages=%d\n", (unsigned long)area, NPAGES);
  /* A page every 20 ms (50 a second: a tenth of the area between dumps a second apart), chosen by a
   * generator that wanders over the whole area. */
  uint32_t x = 12345;
  while (!rt_term) {
    for (int n = 0; n < 1; n++) {
      x = x * 1103515245u + 12345u;
      uint32_t i = (x >> 8) % NPAGES;
      fill(area + (size_t)i * PAGE, i, ++ver[i]);
    }
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  for (uint32_t i = 0; i < NPAGES; i++) {
    unsigned char *p = area + (size_t)i * PAGE;
    uint32_t pi, pv;
    memcpy(&pi, p, 4);
    memcpy(&pv, p + 4, 4);
    RT_CHECK(pi == i && pv == ver[i], "page %u holds page %u version %u, its version is %u", i, pi, pv, ver[i]);
    for (uint32_t k = 8; k < PAGE; k++) RT_CHECK(p[k] == pat(i, pv, k), "page %u byte %u is 0x%02x, want 0x%02x", i, k, p[k], pat(i, pv, k));
  }
  rt_pass();
}
