/* rt-task-timer-thread: POSIX timers whose signal goes to one thread (SIGEV_THREAD_ID, as glibc's
 * SIGEV_THREAD timers do through their helper thread).
 * Usage: rt-task-timer-thread OUTFILE DIR
 * Thread T takes SIGRTMIN+4 with sigwaitinfo (every thread blocks it); timer E (CLOCK_MONOTONIC,
 * SIGEV_THREAD_ID to T, sival 0x5678, 10 ms period); timer F (CLOCK_MONOTONIC, glibc SIGEV_THREAD,
 * 20 ms period, its function counts). Both fired before READY. On SIGTERM: both timers have their
 * intervals, T takes E's signals again (SI_TIMER, sival 0x5678) and F's function runs again. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt-check.h"

#define SIG_E (SIGRTMIN + 4)
static atomic_int t_tid, e_count, e_code, e_value, f_count;

static void *taker(void *arg) {
  (void)arg;
  atomic_store(&t_tid, (int)syscall(SYS_gettid));
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIG_E);
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&s, &si) != SIG_E) continue;
    atomic_store(&e_code, si.si_code);
    atomic_store(&e_value, si.si_value.sival_int);
    atomic_fetch_add(&e_count, 1);
  }
  return NULL;
}

static void on_f(union sigval v) { (void)v; atomic_fetch_add(&f_count, 1); }

/* Up to 2 s for *counter to pass `above`. */
static int passes(atomic_int *counter, int above) {
  for (int i = 0; i < 2000 && atomic_load(counter) <= above; i++) {
    struct timespec ts = { 0, 1000000 };
    nanosleep(&ts, NULL);
  }
  return atomic_load(counter) > above;
}

static int check_interval(timer_t t, const char *name, long ns) {
  struct itimerspec v;
  if (timer_gettime(t, &v)) FAIL("timer %s: %s", name, strerror(errno));
  if (v.it_interval.tv_sec != 0 || v.it_interval.tv_nsec != ns) FAIL("timer %s interval %ld.%09ld, want 0.%09ld", name, (long)v.it_interval.tv_sec, v.it_interval.tv_nsec, ns);
  return 0;
}

static timer_t te, tf;

static int check(void) {
  if (check_interval(te, "E", 10000000) || check_interval(tf, "F", 20000000)) return 1;
  int e = atomic_load(&e_count), f = atomic_load(&f_count);
  if (!passes(&e_count, e + 1)) FAIL("thread T took no signal of timer E after restore (%d before)", e);
  if (atomic_load(&e_code) != SI_TIMER) FAIL("timer E's signal has si_code %d, want SI_TIMER", atomic_load(&e_code));
  if (atomic_load(&e_value) != 0x5678) FAIL("timer E delivered sival 0x%x, want 0x5678", atomic_load(&e_value));
  if (!passes(&f_count, f + 1)) FAIL("timer F's function did not run after restore (%d runs before)", f);
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIG_E);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  pthread_t t;
  if (pthread_create(&t, NULL, taker, NULL)) DIE("pthread_create");
  while (atomic_load(&t_tid) == 0) sched_yield();
  struct sigevent ee = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIG_E, .sigev_value.sival_int = 0x5678 };
  ee._sigev_un._tid = atomic_load(&t_tid);
  struct sigevent ef = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_f };
  if (timer_create(CLOCK_MONOTONIC, &ee, &te) || timer_create(CLOCK_MONOTONIC, &ef, &tf)) DIE("timer_create");
  struct itimerspec se = { { 0, 10000000 }, { 0, 10000000 } }, sf = { { 0, 20000000 }, { 0, 20000000 } };
  if (timer_settime(te, 0, &se, NULL) || timer_settime(tf, 0, &sf, NULL)) DIE("timer_settime");
  if (!passes(&e_count, 0) || !passes(&f_count, 0)) { say("FAIL: the timers did not fire before the dump\n"); return 0; }
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
