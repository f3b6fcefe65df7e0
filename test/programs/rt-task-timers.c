/* rt-task-timers: interval timers and POSIX timers with their remaining time.
 * Usage: rt-task-timers OUTFILE DIR
 * ITIMER_REAL 100 s (interval 200 s), ITIMER_VIRTUAL 50 s, ITIMER_PROF 70 s (interval 10 s);
 * POSIX timers: A (CLOCK_MONOTONIC, SIGRTMIN+1, sival 0x1234, 100 s, interval 5 s), B (CLOCK_REALTIME,
 * SIGEV_NONE, 300 s), C (CLOCK_MONOTONIC, SIGRTMIN+2, 1 ms period while the signal is blocked,
 * then delivered once and disarmed), D (CLOCK_REALTIME, SIGRTMIN+3 blocked throughout, interval
 * 300 s, started at an absolute time 7 intervals and 50 s ago, its signal taken with sigwaitinfo:
 * overrun count 7, 250 s left). On SIGTERM: the same timers, ids, intervals, remaining times
 * that only went down (by less than 30 s), signals and values, and D's overrun count. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt-check.h"
#include <sys/time.h>

static timer_t ta, tb, tc, td;
static volatile sig_atomic_t got_a, got_c;
static volatile int val_a;
static void on_rt(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  if (sig == SIGRTMIN + 1) { got_a++; val_a = si->si_value.sival_int; }
  if (sig == SIGRTMIN + 2) got_c++;
}

static double left(const struct timeval *v) { return v->tv_sec + v->tv_usec / 1e6; }
static double lefts(const struct timespec *v) { return v->tv_sec + v->tv_nsec / 1e9; }

static int check_itimer(int which, const char *name, double value, double interval) {
  struct itimerval v;
  getitimer(which, &v);
  if (left(&v.it_interval) != interval) FAIL("%s interval %.6f, want %.0f", name, left(&v.it_interval), interval);
  /* CPU-time timers are rounded up to the tick when set: allow 0.1 s over. */
  if (left(&v.it_value) > value + 0.1 || left(&v.it_value) < value - 30) FAIL("%s has %.6f s left, want a bit under %.0f", name, left(&v.it_value), value);
  return 0;
}

static int check_posix(timer_t t, const char *name, double value, double interval) {
  struct itimerspec v;
  if (timer_gettime(t, &v)) FAIL("timer %s (id %ld): %s", name, (long)(intptr_t)t, strerror(errno));
  if (lefts(&v.it_interval) != interval) FAIL("timer %s interval %.9f, want %.0f", name, lefts(&v.it_interval), interval);
  if (lefts(&v.it_value) > value || lefts(&v.it_value) < value - 30) FAIL("timer %s has %.9f s left, want a bit under %.0f", name, lefts(&v.it_value), value);
  return 0;
}


static int check(void) {
  if (check_itimer(ITIMER_REAL, "ITIMER_REAL", 100, 200) || check_itimer(ITIMER_VIRTUAL, "ITIMER_VIRTUAL", 50, 0)
      || check_itimer(ITIMER_PROF, "ITIMER_PROF", 70, 10))
    return 1;
  if (check_posix(ta, "A", 100, 5) || check_posix(tb, "B", 300, 0)) return 1;
  struct itimerspec v;
  if (timer_gettime(tc, &v) || v.it_value.tv_sec || v.it_value.tv_nsec) FAIL("timer C is not there, disarmed");
  /* C's overrun was cleared when it was disarmed; D's is what it was. */
  if (timer_getoverrun(tc) != 0) FAIL("timer C overrun %d, want 0", timer_getoverrun(tc));
  if (check_posix(td, "D", 250, 300)) return 1;
  if (timer_getoverrun(td) != 7) FAIL("timer D overrun %d, want 7", timer_getoverrun(td));
  /* A delivers its signal with its value: fire it now. */
  struct itimerspec now = { { 0, 0 }, { 0, 1000000 } };
  timer_settime(ta, 0, &now, NULL);
  for (int i = 0; i < 200 && !got_a; i++) { struct timespec ts = { 0, 1000000 }; nanosleep(&ts, NULL); }
  if (!got_a) FAIL("timer A did not deliver SIGRTMIN+1");
  if (val_a != 0x1234) FAIL("timer A delivered sival 0x%x, want 0x1234", val_a);
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  struct sigaction sa = { .sa_sigaction = on_rt, .sa_flags = SA_SIGINFO | SA_RESTART };
  sigaction(SIGRTMIN + 1, &sa, NULL);
  sigaction(SIGRTMIN + 2, &sa, NULL);
  signal(SIGALRM, SIG_IGN); signal(SIGVTALRM, SIG_IGN); signal(SIGPROF, SIG_IGN);
  struct itimerval r = { { 200, 0 }, { 100, 0 } }, vt = { { 0, 0 }, { 50, 0 } }, p = { { 10, 0 }, { 70, 0 } };
  if (setitimer(ITIMER_REAL, &r, NULL) || setitimer(ITIMER_VIRTUAL, &vt, NULL) || setitimer(ITIMER_PROF, &p, NULL)) DIE("setitimer");
  struct sigevent ea = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 1, .sigev_value.sival_int = 0x1234 };
  struct sigevent eb = { .sigev_notify = SIGEV_NONE };
  struct sigevent ec = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 2 };
  if (timer_create(CLOCK_MONOTONIC, &ea, &ta) || timer_create(CLOCK_REALTIME, &eb, &tb) || timer_create(CLOCK_MONOTONIC, &ec, &tc)) DIE("timer_create");
  struct itimerspec sa_ = { { 5, 0 }, { 100, 0 } }, sb = { { 0, 0 }, { 300, 0 } }, sc = { { 0, 1000000 }, { 0, 1000000 } };
  if (timer_settime(ta, 0, &sa_, NULL) || timer_settime(tb, 0, &sb, NULL)) DIE("timer_settime");
  sigset_t blk; sigemptyset(&blk); sigaddset(&blk, SIGRTMIN + 2);
  sigprocmask(SIG_BLOCK, &blk, NULL);
  timer_settime(tc, 0, &sc, NULL);
  struct timespec ts = { 0, 30000000 }; nanosleep(&ts, NULL);
  struct itimerspec off = { { 0, 0 }, { 0, 0 } };
  sigprocmask(SIG_UNBLOCK, &blk, NULL);
  timer_settime(tc, 0, &off, NULL);
  if (!got_c) { say("FAIL: timer C delivered no signal\n"); return 0; }
  struct sigevent ed = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 3 };
  sigset_t bd; sigemptyset(&bd); sigaddset(&bd, SIGRTMIN + 3);
  sigprocmask(SIG_BLOCK, &bd, NULL);
  struct timespec rnow;
  clock_gettime(CLOCK_REALTIME, &rnow);
  struct itimerspec sd = { { 300, 0 }, { rnow.tv_sec + 250 - 8 * 300, rnow.tv_nsec } };
  if (timer_create(CLOCK_REALTIME, &ed, &td) || timer_settime(td, TIMER_ABSTIME, &sd, NULL)) DIE("timer D");
  siginfo_t si;
  if (sigwaitinfo(&bd, &si) != SIGRTMIN + 3) DIE("sigwaitinfo");
  if (timer_getoverrun(td) != 7) { say("FAIL: timer D overrun %d before the dump, want 7\n", timer_getoverrun(td)); return 0; }
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
