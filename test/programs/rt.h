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
#include <sys/ioctl.h>
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

/* A pty pair for the terminal tests: the master (not our controlling terminal) and the slave's name. */
__attribute__((unused)) static int rt_open_pty(char *name, size_t len) {
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m)) RT_FAIL("posix_openpt: %s", strerror(errno));
  if (ptsname_r(m, name, len)) RT_FAIL("ptsname: %s", strerror(errno));
  return m;
}

/* In a child: a new session whose controlling terminal is the slave `name`; its fd, or -1. */
__attribute__((unused)) static int rt_take_ctty(const char *name) {
  if (setsid() < 0) return -1;
  int s = open(name, O_RDWR);
  if (s < 0 || ioctl(s, TIOCSCTTY, 0)) return -1;
  return s;
}

/* Reads the master (made non-blocking) into out until `want` bytes came or about 2 s passed. */
__attribute__((unused)) static size_t rt_read_master(int m, char *out, size_t size, size_t want) {
  size_t got = 0;
  fcntl(m, F_SETFL, O_NONBLOCK);
  for (int i = 0; i < 400 && got < want; i++) {
    ssize_t k = read(m, out + got, size - 1 - got);
    if (k > 0) got += k;
    else { struct timespec ts = { 0, 5 * 1000 * 1000 }; nanosleep(&ts, NULL); }
  }
  out[got] = 0;
  return got;
}

#endif
