/* rt-sleep-kill: threads that sit in restartable timed calls (issue 15: a SIGKILLed cryo dump).
 * usage: rt-sleep-kill OUTFILE DIR
 * Five threads loop over one call each, every round meant to last SLEEP_MS and end by its timeout:
 *   nanosleep           (relative; interrupted: ERESTART_RESTARTBLOCK)
 *   clock_nanosleep     (CLOCK_MONOTONIC, relative; ERESTART_RESTARTBLOCK)
 *   clock_nanosleep-abs (TIMER_ABSTIME: ERESTARTNOHAND)
 *   poll                (a pipe nobody writes, a timeout; ERESTART_RESTARTBLOCK; ppoll where no poll)
 *   futex               (FUTEX_WAIT on a word nobody wakes, relative timeout; ERESTART_RESTARTBLOCK)
 * SIGTERM is blocked in those threads: nothing of the program's own interrupts them. A round is
 * wrong when its call fails (EINTR: the restart block lost) or returns before SLEEP_MS passed. The
 * rounds are counted in DIR/rounds (one line per thread: name, rounds, wrong rounds), rewritten
 * after every round, so that a test sees them go on. At SIGTERM the main thread stops the loops
 * and prints PASS, or FAIL naming each call that had a wrong round, how many, and the first.
 * READY sleep_ms=SLEEP_MS tids=T1,T2,... (the threads in the order above) */
#include "rt.h"
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#define SLEEP_MS 1500
#define CALLS 5

static const char *names[CALLS] = { "nanosleep", "clock_nanosleep", "clock_nanosleep-abs", "poll", "futex" };
static atomic_int stop;
static atomic_int tids[CALLS];
static int rounds[CALLS], wrong[CALLS];
static char first_wrong[CALLS][160];
static int poll_fd;
static int futex_word;
static const char *dir;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void write_rounds(void) {
  char path[4096], tmp[4096], b[1024];
  int n = 0;
  for (int i = 0; i < CALLS; i++) n += snprintf(b + n, sizeof b - n, "%s %d %d\n", names[i], rounds[i], wrong[i]);
  snprintf(path, sizeof path, "%s/rounds", dir);
  snprintf(tmp, sizeof tmp, "%s/rounds.tmp", dir);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (write(fd, b, n) != n) { close(fd); return; }
  close(fd);
  rename(tmp, path);
}

/* One round of call `i`: 0 when it ended by its timeout, else -1 with errno. */
static int one_round(int i) {
  struct timespec rel = { SLEEP_MS / 1000, (SLEEP_MS % 1000) * 1000000L }, rem;
  switch (i) {
  case 0: return (int)syscall(SYS_nanosleep, &rel, &rem);
  case 1: { int r = clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, &rem); if (r) { errno = r; return -1; } return 0; }
  case 2: {
    struct timespec abs;
    clock_gettime(CLOCK_MONOTONIC, &abs);
    abs.tv_sec += rel.tv_sec;
    abs.tv_nsec += rel.tv_nsec;
    if (abs.tv_nsec >= 1000000000L) { abs.tv_sec++; abs.tv_nsec -= 1000000000L; }
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
    if (r) { errno = r; return -1; }
    return 0;
  }
  case 3: {
    struct pollfd p = { .fd = poll_fd, .events = POLLIN };
#ifdef SYS_poll
    int r = (int)syscall(SYS_poll, &p, 1, SLEEP_MS);
#else /* no poll (aarch64): ppoll, restarted with the time left (ERESTARTNOHAND) */
    int r = ppoll(&p, 1, &rel, NULL);
#endif
    if (r > 0) { errno = EIO; return -1; } /* nobody writes: readable is wrong */
    return r;
  }
  default: {
    long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, &rel, NULL, 0);
    if (r == -1 && errno == ETIMEDOUT) return 0;
    if (r == 0) { errno = EIO; return -1; } /* nobody wakes it: woken is wrong */
    return (int)r;
  }
  }
}

static void *sleeper(void *arg) {
  int i = (int)(long)arg;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, NULL);
  atomic_store(&tids[i], (int)syscall(SYS_gettid));
  while (!atomic_load(&stop)) {
    double t0 = now();
    int r = one_round(i);
    int err = errno;
    double took = now() - t0;
    pthread_mutex_lock(&lock);
    rounds[i]++;
    if (r != 0 || took < SLEEP_MS / 1000.0) {
      if (wrong[i]++ == 0)
        snprintf(first_wrong[i], sizeof first_wrong[i], "round %d returned %d (%s) after %.3f s of %.3f", rounds[i], r,
                 r ? strerror(err) : "timed out", took, SLEEP_MS / 1000.0);
    }
    write_rounds();
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  dir = argv[2];
  int p[2];
  if (pipe2(p, O_CLOEXEC)) RT_FAIL("pipe2: %s", strerror(errno));
  poll_fd = p[0];
  pthread_t th[CALLS];
  for (int i = 0; i < CALLS; i++)
    if (pthread_create(&th[i], NULL, sleeper, (void *)(long)i)) RT_FAIL("pthread_create");
  for (int i = 0; i < CALLS; i++)
    while (!atomic_load(&tids[i])) usleep(1000);
  rt_ready("sleep_ms=%d tids=%d,%d,%d,%d,%d\n", SLEEP_MS, tids[0], tids[1], tids[2], tids[3], tids[4]);
  rt_wait_term();
  atomic_store(&stop, 1);
  for (int i = 0; i < CALLS; i++) pthread_join(th[i], NULL);
  char why[1024];
  int n = 0;
  for (int i = 0; i < CALLS; i++)
    if (wrong[i]) n += snprintf(why + n, sizeof why - n, "%s%s: %d of %d rounds wrong, the first: %s", n ? "; " : "", names[i], wrong[i], rounds[i], first_wrong[i]);
  if (n) RT_FAIL("%s", why);
  for (int i = 0; i < CALLS; i++) RT_CHECK(rounds[i] > 0, "%s never finished a round", names[i]);
  rt_pass();
}
