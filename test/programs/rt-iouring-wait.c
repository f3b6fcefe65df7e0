/* rt-iouring-wait: a thread that waits in io_uring_enter for a completion that never comes (nothing
 * submitted: to_submit 0, min_complete 1, GETEVENTS), again and again until SIGTERM. SIGTERM is
 * blocked but inside the wait (the call's own sigmask argument), so only SIGTERM ends a wait with
 * EINTR: an EINTR without it (a tracer's interrupt the kernel does not restart) is a FAIL.
 * Raw system calls (no liburing): it builds with the guests' cross compilers too.
 * usage: rt-iouring-wait OUTFILE DIR */
#include "rt.h"
#include <linux/io_uring.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct io_uring_params p = { 0 };
  int ring = syscall(__NR_io_uring_setup, 4, &p);
  if (ring < 0) RT_FAIL("io_uring_setup: %s", strerror(errno));
  size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned), cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  char *sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
  char *cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
  void *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  sigset_t term, none;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigemptyset(&none);
  sigprocmask(SIG_BLOCK, &term, NULL);
  rt_ready("ringfd=%d\n", ring);
  long waits = 0, eintr = 0;
  while (!rt_term) {
    long n = syscall(__NR_io_uring_enter, ring, 0, 1, IORING_ENTER_GETEVENTS, &none, _NSIG / 8);
    waits++;
    if (n < 0 && errno != EINTR) RT_FAIL("io_uring_enter: %s", strerror(errno));
    if (n < 0 && !rt_term) eintr++;
  }
  if (eintr > 0) RT_FAIL("io_uring_enter ended with EINTR without a signal (%ld of %ld waits)", eintr, waits);
  rt_pass();
}
