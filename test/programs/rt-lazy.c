/* rt-lazy: 64 MiB of anonymous memory, each page holding its number and a pattern of it, from past its
 * middle on made read-only (two mappings side by side, which a page run of the dump goes across). On
 * SIGTERM (after a lazy restore: its memory arrives page by page as it reads it) every page is
 * checked, byte for byte. READY names the area. */
#include "rt.h"
#include <stdint.h>
#include <sys/mman.h>

#define NPAGES 16384
#define PAGE 4096

static unsigned char pat(uint32_t i, uint32_t k) { return (unsigned char)(i * 17 + k * 5 + 3); }

int main(int argc, char **argv) {
  rt_start(argc, argv);
  unsigned char *area = mmap(NULL, (size_t)NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  for (uint32_t i = 0; i < NPAGES; i++) {
    unsigned char *p = area + (size_t)i * PAGE;
    memcpy(p, &i, 4);
    for (uint32_t k = 4; k < PAGE; k++) p[k] = pat(i, k);
  }
  /* 8 system pages past the middle: not a multiple of what lazy-pages copies at a time (16 pages
   * for a fault, 64 in the background). */
  size_t ro = (size_t)NPAGES * PAGE / 2 + 8 * (size_t)sysconf(_SC_PAGESIZE);
  if (mprotect(area + ro, (size_t)NPAGES * PAGE - ro, PROT_READ) < 0) RT_FAIL("mprotect: %s", strerror(errno));
  rt_ready("area=%lx pages=%d\n", (unsigned long)area, NPAGES);
  rt_wait_term();
  for (uint32_t i = 0; i < NPAGES; i++) {
    unsigned char *p = area + (size_t)i * PAGE;
    uint32_t pi;
    memcpy(&pi, p, 4);
    RT_CHECK(pi == i, "page %u holds page %u", i, pi);
    for (uint32_t k = 4; k < PAGE; k++) RT_CHECK(p[k] == pat(i, k), "page %u byte %u is 0x%02x, want 0x%02x", i, k, p[k], pat(i, k));
  }
  rt_pass();
}
