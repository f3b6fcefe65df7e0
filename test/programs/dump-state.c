/*
 * dump-state: a single-threaded process with a lot of state for `cryo dump` to save.
 * Usage: dump-state OUTFILE DIR
 * Sets up memory, signals, timers, limits, credentials and descriptors (files in DIR), writes one
 * line "READY key=value ..." to OUTFILE and then waits in pause() with known values in every
 * register (x86-regs.h: general, vector, x87, MXCSR; READY says regs=all), or, on other
 * architectures, in a C loop (regs=none: their registers are not checked). On SIGTERM it checks
 * that everything is still as it set it up and appends "PASS" or "FAIL: reason" to OUTFILE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include "x86-regs.h"
#define REGS_CHECKED "all"
#else
#define REGS_CHECKED "none"
#endif

#define REGION_PAGES 256
#define PAGE 4096
#define PIPE_DATA "pipe data that must survive the dump"
#define FIFO_DATA "fifo bytes"
#define GHOST_DATA "the content of a file unlinked while open\n"
#define MEMFD_DATA "memfd content"

static volatile sig_atomic_t term;
static volatile sig_atomic_t usr1;
static int out = -1;
static char altstack[65536];

static void on_term(int sig) {
  (void)sig;
  term = 1;
#if defined(__x86_64__)
  regs_term = 1;
#endif
}
static void on_usr1(int sig, siginfo_t *si, void *uc) { (void)sig; (void)si; (void)uc; usr1++; }

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (write(out, buf, n) != n) _exit(3);
}

static void die(const char *what) {
  say("FAIL: %s: %s\n", what, strerror(errno));
  _exit(2);
}

static uint8_t pattern(size_t page, size_t i) { return (uint8_t)(page * 31 + i * 7 + 1); }

int main(int argc, char **argv) {
  if (argc < 3) return 1;
  syscall(SYS_close_range, 3, ~0U, 0);
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2);
  if (devnull > 2) close(devnull);
  if (setsid() < 0) return 1;
  out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return 1;
  const char *dir = argv[2];
  char path[4096];

  /* Memory: a region with a pattern, page 7 never touched; a PROT_NONE page with data; madvise flags. */
  uint8_t *region = mmap(NULL, REGION_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) die("mmap region");
  for (size_t p = 0; p < REGION_PAGES; p++)
    if (p != 7)
      for (size_t i = 0; i < PAGE; i++) region[p * PAGE + i] = pattern(p, i);
  uint8_t *hidden = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (hidden == MAP_FAILED) die("mmap hidden");
  memset(hidden, 0xa5, 2 * PAGE);
  if (mprotect(hidden, 2 * PAGE, PROT_NONE)) die("mprotect");
  uint8_t *dontfork = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (dontfork == MAP_FAILED) die("mmap dontfork");
  if (madvise(dontfork, 4 * PAGE, MADV_DONTFORK)) die("madvise");
  dontfork[0] = 0x42;

  /* Signals: handlers, blocked mask, pending signals (shared and private), alternate stack. */
  struct sigaction sa = {0};
  sa.sa_sigaction = on_usr1;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR2);
  if (sigaction(SIGUSR1, &sa, NULL)) die("sigaction usr1");
  struct sigaction st = {0};
  st.sa_handler = on_term;
  if (sigaction(SIGTERM, &st, NULL)) die("sigaction term");
  signal(SIGPIPE, SIG_IGN);
  sigset_t blk;
  sigemptyset(&blk);
  sigaddset(&blk, SIGUSR2);
  sigaddset(&blk, SIGRTMIN + 2);
  if (sigprocmask(SIG_BLOCK, &blk, NULL)) die("sigprocmask");
  if (kill(getpid(), SIGUSR2)) die("kill usr2");
  union sigval sv = {.sival_int = 4242};
  siginfo_t si = {0};
  si.si_signo = SIGRTMIN + 2;
  si.si_code = SI_QUEUE;
  si.si_pid = getpid();
  si.si_uid = getuid();
  si.si_value = sv;
  if (syscall(SYS_rt_tgsigqueueinfo, getpid(), gettid(), SIGRTMIN + 2, &si)) die("rt_tgsigqueueinfo");
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL)) die("sigaltstack");

  /* Timers: an itimer and a POSIX timer, both far in the future. */
  struct itimerval itv = {.it_interval = {500, 0}, .it_value = {1000, 0}};
  if (setitimer(ITIMER_VIRTUAL, &itv, NULL)) die("setitimer");
  struct sigevent sev = {0};
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGUSR2;
  sev.sigev_value.sival_ptr = (void *)0x1234;
  timer_t tid;
  if (timer_create(CLOCK_MONOTONIC, &sev, &tid)) die("timer_create");
  struct itimerspec its = {.it_interval = {300, 0}, .it_value = {2000, 0}};
  if (timer_settime(tid, 0, &its, NULL)) die("timer_settime");

  /* Task attributes. */
  if (prctl(PR_SET_NAME, "dump-state-x")) die("PR_SET_NAME");
  if (prctl(PR_SET_PDEATHSIG, SIGUSR1)) die("PR_SET_PDEATHSIG");
  if (setpriority(PRIO_PROCESS, 0, 5)) die("setpriority");
  struct rlimit rl = {.rlim_cur = 512, .rlim_max = 4096};
  if (setrlimit(RLIMIT_NOFILE, &rl)) die("setrlimit");
  umask(027);
  if (personality(ADDR_NO_RANDOMIZE | personality(0xffffffff)) < 0) die("personality");

  /* Descriptors (after `out`, which is fd 3). */
  snprintf(path, sizeof path, "%s/regular", dir);
  int reg = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640); /* fd 4 */
  if (reg != 4) die("open regular");
  if (write(reg, "0123456789abcdefghij", 20) != 20) die("write regular");
  if (lseek(reg, 7, SEEK_SET) != 7) die("lseek");
  if (open("/dev/null", O_WRONLY) != 5) die("open /dev/null");
  snprintf(path, sizeof path, "%s/ghost", dir);
  int ghost = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600); /* fd 6 */
  if (ghost != 6) die("open ghost");
  if (write(ghost, GHOST_DATA, strlen(GHOST_DATA)) != (ssize_t)strlen(GHOST_DATA)) die("write ghost");
  if (unlink(path)) die("unlink ghost");
  int pfd[2];
  if (pipe2(pfd, O_NONBLOCK) || pfd[0] != 7) die("pipe"); /* fds 7, 8 */
  if (write(pfd[1], PIPE_DATA, strlen(PIPE_DATA)) != (ssize_t)strlen(PIPE_DATA)) die("write pipe");
  snprintf(path, sizeof path, "%s/fifo", dir);
  if (mkfifo(path, 0600)) die("mkfifo");
  int fifo = open(path, O_RDWR | O_NONBLOCK); /* fd 9 */
  if (fifo != 9) die("open fifo");
  if (write(fifo, FIFO_DATA, strlen(FIFO_DATA)) != (ssize_t)strlen(FIFO_DATA)) die("write fifo");
  int mfd = memfd_create("dump-memfd", MFD_CLOEXEC); /* fd 10 */
  if (mfd != 10) die("memfd_create");
  if (write(mfd, MEMFD_DATA, strlen(MEMFD_DATA)) != (ssize_t)strlen(MEMFD_DATA)) die("write memfd");
  if (dup2(reg, 11) != 11) die("dup2"); /* fd 11 shares fd 4's file */

  /* Last: a seccomp filter that allows everything (needs no_new_privs). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) die("PR_SET_NO_NEW_PRIVS");
  struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  struct sock_fprog prog = {.len = 1, .filter = allow};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) die("seccomp");

#if defined(__x86_64__)
  int avx512 = regs_has_avx512();
#else
  int avx512 = 0;
#endif
  say("READY pid=%d region=%p hidden=%p dontfork=%p handler=%p altstack=%p pages=%d regs=%s avx512=%d\n", getpid(), (void *)region,
      (void *)hidden, (void *)dontfork, (void *)on_usr1, (void *)altstack, REGION_PAGES, REGS_CHECKED, avx512);

  /* Wait (and check): registers hold known values the whole time. */
  const char *why = NULL;
#if defined(__x86_64__)
  char regs_why[160];
  regs_hold(avx512);
  why = regs_mismatch(regs_why, sizeof regs_why, avx512);
#else
  struct timespec nap = {0, 20 * 1000 * 1000};
  while (!term) nanosleep(&nap, NULL);
#endif
  for (size_t p = 0; p < REGION_PAGES && !why; p++)
    for (size_t i = 0; i < PAGE; i++)
      if (region[p * PAGE + i] != (p == 7 ? 0 : pattern(p, i))) { why = "region content"; break; }
  if (!why && mprotect(hidden, 2 * PAGE, PROT_READ)) why = "mprotect back";
  if (!why && (hidden[0] != 0xa5 || hidden[2 * PAGE - 1] != 0xa5)) why = "PROT_NONE content";
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  if (!why && !(sigismember(&now, SIGUSR2) && sigismember(&now, SIGRTMIN + 2) && !sigismember(&now, SIGUSR1))) why = "blocked mask";
  sigset_t pend;
  sigpending(&pend);
  if (!why && !(sigismember(&pend, SIGUSR2) && sigismember(&pend, SIGRTMIN + 2))) why = "pending signals";
  struct sigaction cur;
  sigaction(SIGUSR1, NULL, &cur);
  if (!why && (cur.sa_sigaction != on_usr1 || !(cur.sa_flags & SA_ONSTACK) || !sigismember(&cur.sa_mask, SIGUSR2))) why = "SIGUSR1 action";
  stack_t cs;
  sigaltstack(NULL, &cs);
  if (!why && (cs.ss_sp != altstack || cs.ss_size != sizeof altstack)) why = "altstack";
  char buf[256];
  ssize_t n = read(pfd[0], buf, sizeof buf);
  if (!why && (n != (ssize_t)strlen(PIPE_DATA) || memcmp(buf, PIPE_DATA, n))) why = "pipe data";
  n = read(fifo, buf, sizeof buf);
  if (!why && (n != (ssize_t)strlen(FIFO_DATA) || memcmp(buf, FIFO_DATA, n))) why = "fifo data";
  if (!why && lseek(reg, 0, SEEK_CUR) != 7) why = "file position";
  if (!why && dontfork[0] != 0x42) why = "dontfork content";
  if (why) say("FAIL: %s\n", why);
  else say("PASS\n");
  return 0;
}
