/* rt-vdso: calls into the vDSO (time, gettimeofday, clock_gettime, sched_getcpu through libc,
 * which calls the vDSO's entry points it found at startup) in a loop and in a SIGALRM handler
 * that runs every 2 ms, each result checked against the system call. After a restore onto a
 * different vDSO the old entry points must still give the right answers and the handlers return.
 * On SIGTERM: 20 more handler runs, a last round of checks, then PASS or the first wrong result. */
#include "rt.h"
#include <sched.h>
#include <sys/time.h>

static volatile sig_atomic_t handled;
static const char *volatile wrong;
static char why[256];

/* The first result that disagrees with the kernel's system call, or NULL. */
static const char *compare(char *buf, size_t n) {
#ifdef SYS_time
  long k = syscall(SYS_time, NULL);
#else /* aarch64 and the other generic-table architectures have no time(2) */
  struct timespec kts;
  syscall(SYS_clock_gettime, CLOCK_REALTIME, &kts);
  long k = kts.tv_sec;
#endif
  time_t t = time(NULL);
  if (t < k - 2 || t > k + 2) { snprintf(buf, n, "time() says %ld, the kernel %ld", (long)t, k); return buf; }
  struct timeval tv = { 0, -1 }, ktv;
  int r = gettimeofday(&tv, NULL);
  syscall(SYS_gettimeofday, &ktv, NULL);
  if (r != 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000 || tv.tv_sec < ktv.tv_sec - 2 || tv.tv_sec > ktv.tv_sec) {
    snprintf(buf, n, "gettimeofday() gives %d and %ld.%06ld, the kernel %ld.%06ld", r, (long)tv.tv_sec, (long)tv.tv_usec, (long)ktv.tv_sec, (long)ktv.tv_usec);
    return buf;
  }
  static const clockid_t clocks[] = { CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME };
  for (unsigned i = 0; i < sizeof clocks / sizeof clocks[0]; i++) {
    struct timespec a, ks, b;
    if (syscall(SYS_clock_gettime, clocks[i], &ks) != 0 || clock_gettime(clocks[i], &a) != 0 || syscall(SYS_clock_gettime, clocks[i], &b) != 0) {
      snprintf(buf, n, "clock_gettime(%d) failed", (int)clocks[i]);
      return buf;
    }
    long long ns = a.tv_sec * 1000000000LL + a.tv_nsec, lo = ks.tv_sec * 1000000000LL + ks.tv_nsec, hi = b.tv_sec * 1000000000LL + b.tv_nsec;
    if (ns < lo || ns > hi) {
      snprintf(buf, n, "clock_gettime(%d) says %lld ns, not between the kernel's %lld and %lld", (int)clocks[i], ns, lo, hi);
      return buf;
    }
  }
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE) { snprintf(buf, n, "sched_getcpu() says %d", cpu); return buf; }
  return NULL;
}

static long long kernel_ns(clockid_t c) {
  struct timespec ts;
  syscall(SYS_clock_gettime, c, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* compare(), again when the kernel's clocks jumped while it ran: a dump taken between the kernel's
 * reading and the vDSO's and restored seconds later (or in another boot, whose monotonic clock
 * starts anew) puts the two on either side of the jump. Only one dump falls in one check. */
static const char *check(char *buf, size_t n) {
  const char *w = NULL;
  for (int i = 0; i < 3; i++) {
    long long r0 = kernel_ns(CLOCK_REALTIME), m0 = kernel_ns(CLOCK_MONOTONIC);
    w = compare(buf, n);
    long long r1 = kernel_ns(CLOCK_REALTIME), m1 = kernel_ns(CLOCK_MONOTONIC);
    int jumped = m1 < m0 || m1 - m0 > 1000000000LL || r1 < r0 || r1 - r0 > 1000000000LL;
    if (w == NULL || !jumped) return w;
  }
  return w;
}

static void on_alarm(int s) {
  (void)s;
  static char hbuf[256];
  int e = errno;
  if (wrong == NULL) wrong = check(hbuf, sizeof hbuf);
  handled++;
  errno = e;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
  setitimer(ITIMER_REAL, &it, NULL);
  const char *w = check(why, sizeof why);
  if (w) RT_FAIL("before the dump: %s", w);
  rt_ready("pid=%d\n", (int)getpid());
  while (!rt_term) {
    if (wrong == NULL) wrong = check(why, sizeof why);
    struct timespec ts = { 0, 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  sig_atomic_t h0 = handled;
  struct timespec start;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &start);
  while (handled < h0 + 20) {
    struct timespec now;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
    if (now.tv_sec > start.tv_sec + 10) RT_FAIL("the SIGALRM handler ran %d times in 10 s after SIGTERM", (int)(handled - h0));
    struct timespec ts = { 0, 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  if (wrong) RT_FAIL("%s", wrong);
  w = check(why, sizeof why);
  if (w) RT_FAIL("%s", w);
  rt_pass();
}
