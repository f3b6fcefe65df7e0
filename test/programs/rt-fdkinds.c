/* rt-fdkinds: one descriptor of each anon-inode kind, checked after a round trip.
 * usage: rt-fdkinds OUTFILE DIR [outside]
 *   efd   eventfd, counter 0x1234567, O_NONBLOCK
 *   sem   eventfd with EFD_SEMAPHORE, counter 3, close-on-exec
 *   ep    epoll: efd (EPOLLIN, data 0xE7E7) and the read end of a pipe holding data
 *         (EPOLLIN|EPOLLET, data 0x50C0)
 *   sfd   signalfd for SIGUSR1 (O_NONBLOCK, close-on-exec), one SIGUSR1 (value 4242) pending
 *   tone  timerfd CLOCK_MONOTONIC one-shot, 2.5 s after setup
 *   ttick timerfd CLOCK_BOOTTIME, expired once 20 ms after setup (1 tick unread), interval 1 h
 *         (a second tick would need an hour between setup and the check: none on a slow guest either)
 *   ifd   inotify (O_NONBLOCK): watch 2 on DIR/b (IN_CREATE), watch 3 on DIR (IN_CREATE);
 *         watch 1 was removed, so the numbers have a gap
 *   pfd   pidfd of the task itself; with "outside", of the parent (a process cryo does not dump)
 * On SIGTERM each is checked; the one-shot timer must fire when timerfd_gettime says. */
#include "rt.h"
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>

static int64_t now_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static int64_t ts_ns(struct timespec ts) { return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec; }

/* Whether an inotify event for NAME on watch WD is queued on IFD. */
static int inotify_saw(int ifd, int wd, const char *name) {
  static char buf[4096] __attribute__((aligned(8)));
  int found = 0;
  ssize_t n;
  while ((n = read(ifd, buf, sizeof buf)) > 0)
    for (char *q = buf; q < buf + n; q += sizeof(struct inotify_event) + ((struct inotify_event *)q)->len) {
      struct inotify_event *ie = (struct inotify_event *)q;
      if (ie->wd == wd && (ie->mask & IN_CREATE) && ie->len && !strcmp(ie->name, name)) found = 1;
    }
  return found;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  const char *dir = argv[2];
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/a", dir);
  snprintf(b, sizeof b, "%s/b", dir);
  mkdir(a, 0700);
  mkdir(b, 0700);

  int efd = eventfd(0x1234567, EFD_NONBLOCK);
  int sem = eventfd(3, EFD_SEMAPHORE | EFD_CLOEXEC);
  int p[2];
  if (pipe(p)) RT_FAIL("pipe");
  if (write(p[1], "x", 1) != 1) RT_FAIL("pipe write");
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0xE7E7 };
  if (epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev)) RT_FAIL("epoll add efd");
  ev = (struct epoll_event){ .events = EPOLLIN | EPOLLET, .data.u64 = 0x50C0 };
  if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev)) RT_FAIL("epoll add pipe");

  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  sigprocmask(SIG_BLOCK, &s, NULL);
  int sfd = signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
  union sigval sv = { .sival_int = 4242 };
  if (sigqueue(getpid(), SIGUSR1, sv)) RT_FAIL("sigqueue");

  int tone = timerfd_create(CLOCK_MONOTONIC, 0);
  struct itimerspec its = { .it_value = { 2, 500000000 } };
  if (timerfd_settime(tone, 0, &its, NULL)) RT_FAIL("timerfd one-shot");
  int ttick = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
  its = (struct itimerspec){ .it_interval = { 3600, 0 }, .it_value = { 0, 20000000 } };
  if (timerfd_settime(ttick, 0, &its, NULL)) RT_FAIL("timerfd ticking");

  int ifd = inotify_init1(IN_NONBLOCK);
  int w1 = inotify_add_watch(ifd, a, IN_CREATE);
  int w2 = inotify_add_watch(ifd, b, IN_CREATE);
  int w3 = inotify_add_watch(ifd, dir, IN_CREATE);
  if (w1 != 1 || w2 != 2 || w3 != 3) RT_FAIL("inotify watches %d %d %d", w1, w2, w3);
  inotify_rm_watch(ifd, w1);
  /* The IN_IGNORED event of watch 1 and anything else queued so far: not kept across a dump. */
  inotify_saw(ifd, -1, "");

  pid_t who = strcmp(rt_mode, "outside") ? getpid() : getppid();
  int pfd = syscall(SYS_pidfd_open, who, 0);
  if (pfd < 0) RT_FAIL("pidfd_open: %s", strerror(errno));

  struct timespec ts = { 0, 60000000 }; /* the ticking timer expires once before READY */
  nanosleep(&ts, NULL);
  rt_ready("efd=%d sem=%d ep=%d pr=%d sfd=%d tone=%d ttick=%d ifd=%d pfd=%d\n", efd, sem, ep, p[0], sfd, tone, ttick, ifd, pfd);
  rt_wait_term();

  {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", pfd);
    FILE *f = fopen(path, "r");
    int pid = 0;
    while (f && fgets(line, sizeof line, f)) sscanf(line, "Pid: %d", &pid);
    if (f) fclose(f);
    RT_CHECK(pid == getpid(), "pidfd refers to process %d, want the task itself (%d)", pid, getpid());
    RT_CHECK(syscall(SYS_pidfd_send_signal, pfd, 0, NULL, 0) == 0, "pidfd_send_signal: %s", strerror(errno));
  }

  /* epoll: both ready; again, only the level-triggered eventfd. */
  struct epoll_event evs[4];
  int n = epoll_wait(ep, evs, 4, 0), e = 0, pp = 0;
  for (int i = 0; i < n; i++) {
    if (evs[i].data.u64 == 0xE7E7 && (evs[i].events & EPOLLIN)) e++;
    else if (evs[i].data.u64 == 0x50C0 && (evs[i].events & EPOLLIN)) pp++;
    else RT_FAIL("epoll: event %#x with data %#llx", evs[i].events, (unsigned long long)evs[i].data.u64);
  }
  RT_CHECK(n == 2 && e == 1 && pp == 1, "epoll: %d events, eventfd %d, pipe %d (want 2, 1, 1)", n, e, pp);
  n = epoll_wait(ep, evs, 4, 0);
  RT_CHECK(n == 1 && evs[0].data.u64 == 0xE7E7, "epoll again: %d events (want only the level-triggered eventfd)", n);

  uint64_t v = 0;
  RT_CHECK(read(efd, &v, 8) == 8 && v == 0x1234567, "eventfd counter %#llx, want 0x1234567", (unsigned long long)v);
  RT_CHECK(fcntl(efd, F_GETFL) & O_NONBLOCK, "eventfd lost O_NONBLOCK");
  RT_CHECK(read(efd, &v, 8) < 0 && errno == EAGAIN, "eventfd not empty after read");
  RT_CHECK(read(sem, &v, 8) == 8 && v == 1, "semaphore eventfd read %llu, want 1 (EFD_SEMAPHORE)", (unsigned long long)v);
  RT_CHECK(read(sem, &v, 8) == 8 && v == 1, "semaphore eventfd second read %llu", (unsigned long long)v);
  RT_CHECK(fcntl(sem, F_GETFD) == FD_CLOEXEC, "semaphore eventfd close-on-exec lost");

  struct signalfd_siginfo si;
  RT_CHECK(read(sfd, &si, sizeof si) == sizeof si, "signalfd read: %s", strerror(errno));
  RT_CHECK(si.ssi_signo == SIGUSR1 && si.ssi_int == 4242, "signalfd: signal %u value %d", si.ssi_signo, si.ssi_int);
  RT_CHECK((fcntl(sfd, F_GETFL) & O_NONBLOCK) && fcntl(sfd, F_GETFD) == FD_CLOEXEC, "signalfd flags");

  v = 0;
  RT_CHECK(read(ttick, &v, 8) == 8 && v == 1, "ticking timerfd: %s, %llu ticks (want 1 from before the dump)",
           strerror(errno), (unsigned long long)v);
  RT_CHECK(!timerfd_gettime(ttick, &its) && its.it_interval.tv_sec == 3600 && its.it_interval.tv_nsec == 0
           && its.it_value.tv_sec < 3600 && ts_ns(its.it_value) > 0, "ticking timerfd: interval %lld.%09ld, next in %lld.%09ld",
           (long long)its.it_interval.tv_sec, its.it_interval.tv_nsec, (long long)its.it_value.tv_sec, its.it_value.tv_nsec);
  RT_CHECK(!timerfd_gettime(tone, &its), "timerfd_gettime");
  int64_t left = ts_ns(its.it_value);
  if (left == 0 && its.it_interval.tv_sec == 0 && its.it_interval.tv_nsec == 0) {
    /* A slow machine took longer than the timer from setup to here: it must have fired, once. */
    struct pollfd pf = { .fd = tone, .events = POLLIN };
    RT_CHECK(poll(&pf, 1, 0) == 1, "one-shot timerfd: 0 ns left and no tick: disarmed, never fired");
    RT_CHECK(read(tone, &v, 8) == 8 && v == 1, "one-shot timerfd ticks %llu", (unsigned long long)v);
    left = -1;
  }
  if (left >= 0) {
  RT_CHECK(left > 0 && left <= 2500000000LL && its.it_interval.tv_sec == 0 && its.it_interval.tv_nsec == 0,
           "one-shot timerfd: %lld ns left (want 0 < left <= 2.5 s), interval %lld.%09ld", (long long)left,
           (long long)its.it_interval.tv_sec, its.it_interval.tv_nsec);
  int64_t t0 = now_ns(CLOCK_MONOTONIC);
  RT_CHECK(read(tone, &v, 8) == 8 && v == 1, "one-shot timerfd ticks %llu", (unsigned long long)v);
  int64_t late = now_ns(CLOCK_MONOTONIC) - t0 - left;
  /* 1 s: a loaded 2-core machine has woken the reader 150 ms late; an edited time is off by far more. */
  RT_CHECK(late > -5000000 && late < 1000000000, "one-shot timerfd fired %lld us off the time it said", (long long)(late / 1000));
  }

  inotify_saw(ifd, -1, ""); /* drop whatever else came (other files in DIR) */
  {
    /* Fresh names, then look for both events (wd 2 in b/, wd 3 in DIR). */
    char n2[600], n3[600];
    snprintf(n2, sizeof n2, "%s/new2", b);
    snprintf(n3, sizeof n3, "%s/new3", dir);
    unlink(n2); /* a file that exists already makes no IN_CREATE (restored more than once) */
    unlink(n3);
    close(open(n2, O_WRONLY | O_CREAT, 0600));
    close(open(n3, O_WRONLY | O_CREAT, 0600));
    static char buf[4096] __attribute__((aligned(8)));
    int s2 = 0, s3 = 0;
    ssize_t m;
    while ((m = read(ifd, buf, sizeof buf)) > 0)
      for (char *q = buf; q < buf + m; q += sizeof(struct inotify_event) + ((struct inotify_event *)q)->len) {
        struct inotify_event *ie = (struct inotify_event *)q;
        if (ie->len && !strcmp(ie->name, "new2")) s2 = ie->wd;
        if (ie->len && !strcmp(ie->name, "new3")) s3 = ie->wd;
      }
    RT_CHECK(s2 == 2 && s3 == 3, "inotify: create in b/ reported on watch %d (want 2), in DIR on watch %d (want 3)", s2, s3);
    RT_CHECK(fcntl(ifd, F_GETFL) & O_NONBLOCK, "inotify lost O_NONBLOCK");
  }

  rt_pass();
}
