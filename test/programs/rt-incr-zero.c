/* rt-incr-zero: 16 pages written with 0x5a; on SIGUSR1 the first 8 are dropped (MADV_DONTNEED) and
 * read back, so they are the kernel's zero page: present, never written since. A dump of a chain
 * taken after that must have them as zeros, not leave them to a parent dump that has the old bytes.
 * On SIGTERM the first 8 must be zero, the rest 0x5a. READY names the area. */
#include "rt.h"
#include <sys/mman.h>

#define NPAGES 16

static volatile sig_atomic_t drop;
static void on_usr1(int s) { (void)s; drop = 1; }

int main(int argc, char **argv) {
  rt_start(argc, argv);
  long ps = sysconf(_SC_PAGESIZE);
  unsigned char *area = mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  if (madvise(area, NPAGES * ps, MADV_NOHUGEPAGE) != 0) RT_FAIL("madvise: %s", strerror(errno));
  memset(area, 0x5a, NPAGES * ps);
  struct sigaction sa = { .sa_handler = on_usr1 };
  sigaction(SIGUSR1, &sa, NULL);
  rt_ready("area=%lx pages=%d\n", (unsigned long)area, NPAGES);
  while (!rt_term) {
    if (drop == 1) {
      if (madvise(area, NPAGES / 2 * ps, MADV_DONTNEED) != 0) RT_FAIL("MADV_DONTNEED: %s", strerror(errno));
      volatile unsigned sum = 0;
      for (long i = 0; i < NPAGES / 2; i++) sum += area[i * ps];
      drop = 2;
      rt_say("DROPPED %u\n", sum);
    }
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  for (long i = 0; i < NPAGES * ps; i++) {
    unsigned want = i < NPAGES / 2 * ps ? 0 : 0x5a;
    RT_CHECK(area[i] == want, "page %ld byte %ld is 0x%02x, want 0x%02x", i / ps, i % ps, area[i], want);
  }
  rt_pass();
}
