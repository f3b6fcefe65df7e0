/*
 * counter: the example program of `cryo demo`.
 *
 *   counter LOGFILE
 *
 * Counts up, one step every 0.2 s. Each step rewrites a few words of 2 MiB of state it keeps in
 * memory and prints the count and a checksum of that state to LOGFILE (its stdout and stderr).
 * On SIGTERM it rebuilds the state from scratch by replaying every step, compares it with the
 * state in memory and prints PASS (exit 0) or FAIL (exit 1): a checkpoint/restore that lost or
 * damaged a single page, register or the count shows up as FAIL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATE_WORDS (256 * 1024) /* 2 MiB of uint64_t */
#define WORDS_PER_STEP 64
#define STEP_NS 200000000L

static uint64_t state[STATE_WORDS];
static volatile sig_atomic_t stop_requested;

static void on_sigterm(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* splitmix64: a cheap, well-mixed function of its input. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static void init_state(uint64_t *s) {
  for (uint64_t i = 0; i < STATE_WORDS; i++) s[i] = mix(i);
}

/* Step n: rewrites WORDS_PER_STEP words chosen by n; returns the change to the sum of all words. */
static uint64_t step(uint64_t *s, uint64_t n) {
  uint64_t delta = 0;
  for (uint64_t k = 0; k < WORDS_PER_STEP; k++) {
    uint64_t i = mix(n * WORDS_PER_STEP + k) % STATE_WORDS;
    uint64_t v = mix(s[i] ^ n);
    delta += v - s[i];
    s[i] = v;
  }
  return delta;
}

static uint64_t sum_of(const uint64_t *s) {
  uint64_t sum = 0;
  for (uint64_t i = 0; i < STATE_WORDS; i++) sum += s[i];
  return sum;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof line - 1) n = sizeof line - 1;
  for (int off = 0; off < n;) {
    ssize_t w = write(1, line + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += w;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s LOGFILE\n", argv[0]);
    return 2;
  }
  int log = open(argv[1], O_WRONLY | O_CREAT | O_APPEND, 0600);
  int null = open("/dev/null", O_RDONLY);
  if (log < 0 || null < 0) {
    perror(argv[1]);
    return 2;
  }
  /* stdin from /dev/null, stdout and stderr to the log, nothing else open (no inherited fds). */
  if (dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0) return 2;
  for (int fd = 3; fd < 1024; fd++) close(fd);

  /* Its own session, away from the terminal: a self-contained process to checkpoint. */
  setsid();

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGTERM, &sa, NULL) != 0) return 2;

  init_state(state);
  uint64_t sum = sum_of(state);
  uint64_t count = 0;
  say("counter started, pid %d\n", (int)getpid());

  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (!stop_requested) {
    count++;
    sum += step(state, count);
    say("count %" PRIu64 "  checksum %016" PRIx64 "\n", count, sum);
    next.tv_nsec += STEP_NS;
    if (next.tv_nsec >= 1000000000L) {
      next.tv_nsec -= 1000000000L;
      next.tv_sec++;
    }
    /* Far behind (restored after a long pause, or on another machine): go on from now, no catching up. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > next.tv_sec + 1) next = now;
    /* An absolute deadline: a sleep interrupted (by a signal, or by a checkpoint) just resumes. */
    while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
    }
  }

  /* Replay every step on fresh memory: the state must be exactly what this process holds. */
  uint64_t *replay = malloc(sizeof state);
  if (replay == NULL) return 2;
  init_state(replay);
  for (uint64_t n = 1; n <= count; n++) step(replay, n);
  int same = memcmp(replay, state, sizeof state) == 0;
  int sum_ok = sum == sum_of(state);
  free(replay);
  if (same && sum_ok) {
    say("PASS: counted to %" PRIu64 ", 2 MiB of state intact (checksum %016" PRIx64 ")\n", count, sum);
    return 0;
  }
  say("FAIL: after %" PRIu64 " steps the state in memory is %s\n", count,
      !same ? "not what the steps produce" : "intact but the running checksum is wrong");
  return 1;
}
