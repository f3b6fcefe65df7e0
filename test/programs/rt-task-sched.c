/* rt-task-sched: scheduling policy and nice value. Usage: rt-task-sched OUTFILE DIR batch|idle
 * SCHED_BATCH or SCHED_IDLE, nice 7. On SIGTERM: the same policy and nice value. */
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

static volatile sig_atomic_t term;
static int out = -1;
static void on_term(int s) { (void)s; term = 1; }
static void say(const char *fmt, ...) {
  char b[1024]; va_list ap; va_start(ap, fmt); int n = vsnprintf(b, sizeof b, fmt, ap); va_end(ap);
  if (write(out, b, n) != n) _exit(3);
}
#define FAIL(...) do { say("FAIL: " __VA_ARGS__); say("\n"); return 1; } while (0)
#define DIE(what) do { say("FAIL: %s: %s\n", what, strerror(errno)); _exit(1); } while (0)

/* stdio on /dev/null, no inherited fds, own session, OUTFILE open (O_APPEND, close-on-exec). */
static void start(int argc, char **argv) {
  if (argc < 3) _exit(1);
  syscall(SYS_close_range, 3, ~0U, 0);
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0); dup2(null, 1); dup2(null, 2);
  if (null > 2) close(null);
  if (setsid() < 0) _exit(1);
  out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) _exit(1);
  struct sigaction sa = { .sa_handler = on_term };
  sigaction(SIGTERM, &sa, NULL);
}

/* READY, then sleep in 10 ms steps until SIGTERM. */
static void ready_and_wait(void) {
  say("READY pid=%d\n", getpid());
  while (!term) { struct timespec ts = { 0, 10000000 }; nanosleep(&ts, NULL); }
}
#include <sched.h>
#include <sys/resource.h>

int main(int argc, char **argv) {
  start(argc, argv);
  int policy = argc > 3 && strcmp(argv[3], "idle") == 0 ? SCHED_IDLE : SCHED_BATCH;
  struct sched_param sp = { 0 };
  if (sched_setscheduler(0, policy, &sp)) DIE("sched_setscheduler");
  if (setpriority(PRIO_PROCESS, 0, 7)) DIE("setpriority");
  ready_and_wait();
  int got = sched_getscheduler(0);
  errno = 0;
  int nice = getpriority(PRIO_PROCESS, 0);
  if (got != policy) say("FAIL: policy %d, want %d\n", got, policy);
  else if (nice != 7) say("FAIL: nice %d, want 7\n", nice);
  else say("PASS\n");
  return 0;
}
