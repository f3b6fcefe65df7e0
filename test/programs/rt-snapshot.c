/* rt-snapshot: a dump that leaves the task running holds its memory as it was at the freeze.
 * A writer thread sweeps 32 MiB of pages over and over, putting its sweep number g into each
 * page's first word in page order; before each write it checks the page still holds g-1, what its
 * last sweep left there. Pages dumped as they were at any other moment than the thread's own
 * registers (its g and page index) break that in the restored task. 32 MiB is above cryo's size
 * for writing a left-running task's pages from a copy-on-write snapshot (src/dump/snapshot.ts).
 * On SIGTERM the main thread lets the writer finish two more sweeps and reports the first
 * mismatch it saw.
 * usage: rt-snapshot OUTFILE DIR */
#include "rt-check.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#define BYTES (32L << 20)
static long ps;
static size_t pages;
static char *region;
static volatile int stop;
static volatile uint64_t sweeps;
static volatile long bad_page = -1;
static volatile uint64_t bad_got, bad_want;

static void *writer(void *arg) {
  (void)arg;
  for (uint64_t g = 1; !stop; g++) {
    for (size_t i = 0; i < pages; i++) {
      volatile uint64_t *w = (volatile uint64_t *)(region + i * ps);
      if (*w != g - 1 && bad_page < 0) { bad_got = *w; bad_want = g - 1; bad_page = (long)i; }
      *w = g;
    }
    sweeps++;
    usleep(200); /* leaves the other core to cryo */
  }
  return NULL;
}

static int check(void) {
  if (bad_page >= 0) FAIL("page %ld held sweep %llu where the writer expected %llu", bad_page, (unsigned long long)bad_got, (unsigned long long)bad_want);
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  ps = sysconf(_SC_PAGESIZE);
  pages = BYTES / ps;
  region = mmap(NULL, BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) DIE("mmap");
  memset(region, 0xa5, BYTES);
  for (size_t i = 0; i < pages; i++) *(uint64_t *)(region + i * ps) = 0;
  pthread_t t;
  if (pthread_create(&t, NULL, writer, NULL) != 0) DIE("pthread_create");
  while (sweeps < 2) usleep(1000);
  rt_ready("pid=%d region=%p pages=%zu\n", getpid(), (void *)region, pages);
  rt_wait_term();
  uint64_t at = sweeps;
  while (sweeps < at + 2) usleep(1000);
  stop = 1;
  pthread_join(t, NULL);
  if (check() == 0) rt_pass();
  return 0;
}
