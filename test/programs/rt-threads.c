/* rt-threads: every thread comes back with its TID, name, TLS, mask, alternate stack and pending
 * signal, and threads blocked in a condition variable or a futex wait resume correctly.
 * Threads: "rt-cond" in pthread_cond_wait, "rt-futex" in FUTEX_WAIT, "rt-count" (named
 * "rt-\\cou\nnt": /proc/TID/status escapes its backslash and newline, comm does not) counting in TLS
 * (nanosleep), "rt-own" with its own mask (SIGUSR1|SIGUSR2 blocked), alternate stack and a
 * SIGUSR1 (value 4242) pending for it alone, "rt-spin" spinning in its own code with every signal
 * blocked and 16 KiB of a pattern under its stack pointer (where a runtime with small stacks side
 * by side, Go's goroutines, keeps another stack: a restore must not write there). The main thread
 * waits for SIGTERM, then checks that counting and spinning go on, wakes the waiters and collects
 * each thread's own verdict.
 * usage: rt-threads OUTFILE DIR
 * READY main=TID cond=TID futex=TID count=TID own=TID spin=TID tls=ADDR (rt-futex's TLS id)
 *       below=ADDR (the lowest byte of rt-spin's pattern) */
#include "rt.h"
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/prctl.h>

enum { COND = 1, FUTEX, COUNT, OWN, SPIN, NT };
static const char *names[NT] = { "rt-threads", "rt-cond", "rt-futex", "rt-\\cou\nnt", "rt-own", "rt-spin" };
static __thread uint64_t tls_id, tls_count;
static volatile uint64_t published;
static volatile int stop, go, started;
static volatile int fword;
static volatile int done[NT];
static pid_t tid[NT];
static volatile uint64_t *tls_addr[NT];
static char err[NT][160];
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char altstack[64 * 1024];
enum { BELOW = 16 * 1024, BELOW_GAP = 1024 };
static volatile uint64_t spins;
static volatile uint8_t *below;

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static void sleep_ms(int ms) {
  struct timespec ts = { 0, ms * 1000L * 1000L };
  nanosleep(&ts, NULL);
}

/* Every thread's own checks: TID, TLS, name. Returns 0 when they hold (err[i] says why not). */
static int common_checks(int i) {
  char name[16] = { 0 };
  prctl(PR_GET_NAME, name);
  if (tls_id != 0xF0u + (unsigned)i)
    snprintf(err[i], sizeof err[i], "%s: tls_id %#llx, want %#x", names[i], (unsigned long long)tls_id, 0xF0 + i);
  else if (tid[i] != gettid_())
    snprintf(err[i], sizeof err[i], "%s: tid %d, want %d", names[i], gettid_(), tid[i]);
  else if (strcmp(name, names[i]) != 0)
    snprintf(err[i], sizeof err[i], "%s: thread name '%s', want '%s'", names[i], name, names[i]);
  return err[i][0] != 0;
}

static void setup(int i) {
  prctl(PR_SET_NAME, names[i]);
  tls_id = 0xF0u + (unsigned)i;
  tls_addr[i] = &tls_id;
  tid[i] = gettid_();
}

/* After its check a thread parks: it never returns, so a wrong TLS cannot break pthread's exit. */
static void *finish(int i) {
  done[i] = 1;
  for (;;) pause();
  return NULL;
}

static void *cond_thread(void *a) {
  (void)a;
  setup(COND);
  pthread_mutex_lock(&m);
  __sync_fetch_and_add(&started, 1);
  while (!go) pthread_cond_wait(&cv, &m);
  pthread_mutex_unlock(&m);
  common_checks(COND);
  return finish(COND);
}

static void *futex_thread(void *a) {
  (void)a;
  setup(FUTEX);
  __sync_fetch_and_add(&started, 1);
  while (fword == 0) syscall(SYS_futex, &fword, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  common_checks(FUTEX);
  return finish(FUTEX);
}

static void *count_thread(void *a) {
  (void)a;
  setup(COUNT);
  __sync_fetch_and_add(&started, 1);
  while (!stop) {
    tls_count++;
    published = tls_count;
    sleep_ms(5);
  }
  if (!common_checks(COUNT) && published != tls_count)
    snprintf(err[COUNT], sizeof err[COUNT], "rt-count: tls_count %llu, published %llu", (unsigned long long)tls_count,
             (unsigned long long)published);
  return finish(COUNT);
}

static void *own_thread(void *a) {
  (void)a;
  setup(OWN);
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  sigaddset(&s, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
  sigaltstack(&ss, NULL);
  union sigval v = { .sival_int = 4242 };
  pthread_sigqueue(pthread_self(), SIGUSR1, v);
  __sync_fetch_and_add(&started, 1);
  while (!stop) sleep_ms(10);
  if (common_checks(OWN)) return finish(OWN);
  sigset_t now, pend;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  stack_t cur;
  sigaltstack(NULL, &cur);
  sigpending(&pend);
  if (!sigismember(&now, SIGUSR1) || !sigismember(&now, SIGUSR2) || !sigismember(&now, SIGTERM) || sigismember(&now, SIGINT))
    snprintf(err[OWN], sizeof err[OWN], "rt-own: blocked mask %#lx is not SIGUSR1|SIGUSR2|SIGTERM", *(unsigned long *)&now);
  else if (cur.ss_sp != altstack || cur.ss_size != sizeof altstack || cur.ss_flags != 0)
    snprintf(err[OWN], sizeof err[OWN], "rt-own: alternate stack %p/%zu/%d, want %p/%zu/0", cur.ss_sp, cur.ss_size, cur.ss_flags,
             (void *)altstack, sizeof altstack);
  else if (!sigismember(&pend, SIGUSR1))
    snprintf(err[OWN], sizeof err[OWN], "rt-own: SIGUSR1 is no longer pending");
  else {
    siginfo_t si;
    struct timespec zero = { 0, 0 };
    sigset_t u1;
    sigemptyset(&u1);
    sigaddset(&u1, SIGUSR1);
    if (sigtimedwait(&u1, &si, &zero) != SIGUSR1 || si.si_value.sival_int != 4242 || si.si_code != SI_QUEUE)
      snprintf(err[OWN], sizeof err[OWN], "rt-own: pending SIGUSR1 has value %d code %d, want 4242 SI_QUEUE", si.si_value.sival_int, si.si_code);
  }
  return finish(OWN);
}

static uint8_t pattern(size_t i) { return (uint8_t)(i * 7u + 1u); }

static void *spin_thread(void *a) {
  (void)a;
  setup(SPIN);
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  /* Under this frame (and any call's), nothing of the thread's own writes while it spins. */
  volatile uint8_t *b = (volatile uint8_t *)((uintptr_t)__builtin_frame_address(0) - BELOW_GAP - BELOW);
  for (size_t i = 0; i < BELOW; i++) b[i] = pattern(i);
  below = b;
  __sync_fetch_and_add(&started, 1);
  while (!stop) spins++;
  size_t bad = BELOW;
  for (size_t i = 0; i < BELOW && bad == BELOW; i++)
    if (b[i] != pattern(i)) bad = i;
  if (!common_checks(SPIN) && bad != BELOW)
    snprintf(err[SPIN], sizeof err[SPIN], "rt-spin: byte %zu under its stack pointer is %#x, want %#x", BELOW + BELOW_GAP - bad,
             b[bad], pattern(bad));
  return finish(SPIN);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  setup(0);
  /* SIGTERM is the main thread's: the others block it. */
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, NULL);
  pthread_t t;
  void *(*fns[NT])(void *) = { NULL, cond_thread, futex_thread, count_thread, own_thread, spin_thread };
  for (int i = 1; i < NT; i++) pthread_create(&t, NULL, fns[i], NULL);
  pthread_sigmask(SIG_UNBLOCK, &term, NULL);
  while (started < NT - 1 || published < 10) sleep_ms(1);
  sleep_ms(20); /* the waiters are in their waits */
  rt_ready("main=%d cond=%d futex=%d count=%d own=%d spin=%d tls=%p below=%p\n", tid[0], tid[COND], tid[FUTEX], tid[COUNT],
           tid[OWN], tid[SPIN], (void *)tls_addr[FUTEX], (void *)below);
  rt_wait_term();

  RT_CHECK(tid[0] == gettid_() && tid[0] == getpid(), "main thread tid %d pid %d, want %d", gettid_(), getpid(), tid[0]);
  RT_CHECK(tls_id == 0xF0, "main thread tls_id %#llx, want 0xf0", (unsigned long long)tls_id);
  uint64_t p0 = published, s0 = spins;
  sleep_ms(100);
  RT_CHECK(published > p0, "rt-count stopped counting (%llu)", (unsigned long long)p0);
  RT_CHECK(spins > s0, "rt-spin stopped spinning (%llu)", (unsigned long long)s0);
  RT_CHECK(!done[COND] && !done[FUTEX], "a waiter woke before it was signalled (cond %d futex %d)", done[COND], done[FUTEX]);
  pthread_mutex_lock(&m);
  go = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&m);
  fword = 1;
  syscall(SYS_futex, &fword, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  stop = 1;
  for (int w = 0; w < 300; w++) {
    int all = 1;
    for (int i = 1; i < NT; i++) all &= done[i];
    if (all) break;
    sleep_ms(10);
  }
  for (int i = 1; i < NT; i++) {
    RT_CHECK(done[i], "%s did not finish (it did not wake up)", names[i]);
    RT_CHECK(!err[i][0], "%s", err[i]);
  }
  rt_pass();
}
