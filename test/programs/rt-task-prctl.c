/* rt-task-prctl: personality, thread name, no_new_privs, dumpable 0, and the same PID.
 * Usage: rt-task-prctl OUTFILE DIR. On SIGTERM: all of them as they were set. */
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
#include <sys/personality.h>
#include <sys/prctl.h>

#define PERS (ADDR_NO_RANDOMIZE | UNAME26)
int main(int argc, char **argv) {
  start(argc, argv);
  pid_t pid = getpid();
  if (personality(PERS) < 0) DIE("personality");
  if (prctl(PR_SET_NAME, "rt-prctl-name", 0, 0, 0)) DIE("PR_SET_NAME");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) DIE("PR_SET_NO_NEW_PRIVS");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) DIE("PR_SET_DUMPABLE");
  ready_and_wait();
  char name[32] = { 0 };
  prctl(PR_GET_NAME, name, 0, 0, 0);
  int pers = personality(0xffffffff);
  if (syscall(SYS_getpid) != pid) say("FAIL: PID %ld, want %d\n", (long)syscall(SYS_getpid), pid);
  else if (pers != PERS) say("FAIL: personality 0x%x, want 0x%x\n", pers, PERS);
  else if (strcmp(name, "rt-prctl-name")) say("FAIL: thread name '%s', want 'rt-prctl-name'\n", name);
  else if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) say("FAIL: no_new_privs %d, want 1\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  else if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) say("FAIL: dumpable %d, want 0\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  else say("PASS\n");
  return 0;
}
