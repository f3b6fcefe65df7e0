/* rt.h: the frame every round-trip test program (rt-*.c) shares.
 * usage: PROGRAM OUTFILE DIR [MODE]
 * rt_start() makes the program a session leader with stdio on /dev/null and no inherited fds,
 * rt_ready() writes "READY k=v ..." to OUTFILE, rt_wait_term() waits for SIGTERM (its handler
 * only sets rt_term), then the program checks its state and ends with rt_pass() or RT_FAIL()
 * (one line "PASS" or "FAIL: reason" appended to OUTFILE). */
#ifndef RT_H
#define RT_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t rt_term;
static int rt_out = -1;
static const char *rt_mode = "";

__attribute__((unused)) static void rt_say(const char *fmt, ...) {
  char b[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof b - 1) n = sizeof b - 1;
  if (write(rt_out, b, n) != n) _exit(3);
}

static void rt_on_term(int s) { (void)s; rt_term = 1; }

/* SIGTERM sets rt_term; sa_flags lets a program choose SA_RESTART or not. */
__attribute__((unused)) static void rt_term_handler(int sa_flags) {
  struct sigaction sa = { .sa_handler = rt_on_term, .sa_flags = sa_flags };
  sigaction(SIGTERM, &sa, NULL);
}

static void rt_start(int argc, char **argv) {
  if (argc < 3) _exit(2);
  syscall(SYS_close_range, 3, ~0U, 0);
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0); dup2(null, 1); dup2(null, 2);
  if (null > 2) close(null);
  if (setsid() < 0) _exit(2);
  rt_out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (rt_out < 0) _exit(2);
  if (argc > 3) rt_mode = argv[3];
  rt_term_handler(0);
}

#define rt_ready(...) rt_say("READY " __VA_ARGS__)

/* Waits for SIGTERM without holding a syscall open longer than 10 ms at a time. */
__attribute__((unused)) static void rt_wait_term(void) {
  while (!rt_term) {
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}

__attribute__((unused)) static void rt_pass(void) {
  rt_say("PASS\n");
  _exit(0);
}

#define RT_FAIL(...) do { rt_say("FAIL: " __VA_ARGS__); rt_say("\n"); _exit(1); } while (0)
#define RT_CHECK(c, ...) do { if (!(c)) RT_FAIL(__VA_ARGS__); } while (0)

#endif
