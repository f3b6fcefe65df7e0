/*
 * waitStop: wait4 blocked in the kernel until a traced task reports, bounded by a timer. Part of
 * cryo_sys.c's translation unit (included there).
 *
 * Why: polling with WNOHANG (sched_yield, then sleeps) oversleeps the stop on a loaded machine and
 * makes a bound fire late; a blocked wait4 is woken by the stop itself. wait4 has no timeout, so a
 * POSIX timer of this thread (SIGEV_THREAD_ID) sends WAIT_SIG, whose handler has no SA_RESTART:
 * the blocked wait4 returns EINTR at the deadline.
 *
 * WAIT_SIG is an RT signal that neither Node, libuv nor V8 use (libuv owns SIGCHLD, V8's profiler
 * SIGPROF, the inspector SIGUSR1; glibc keeps the RT signals below SIGRTMIN). The signal goes to
 * the calling thread only, and only while a waitStop runs: the timer is disarmed before it
 * returns, so no other system call of Node's ever sees an EINTR from it. Children cryo spawns reset
 * every handler before execve (child_exec).
 */
#include <time.h>

#define WAIT_SIG (SIGRTMIN + 7)
/* After the deadline the timer fires again every 2 ms: a signal that came just before wait4 blocked
 * (handled, nothing to interrupt) is followed by one that interrupts it. */
#define WAIT_REFIRE_NS 2000000L

struct wait_timer {
  int state; /* 0 not made yet, 1 made, -errno cannot be made */
  int id;    /* the kernel's timer id (raw syscalls: no librt on old glibc) */
};
static __thread struct wait_timer wait_timer; /* one per thread: the signal targets its maker */

static void wait_sig_handler(int sig) { (void)sig; }

/* This thread's timer, made on first use; 0, or the errno that stops it being made. */
static int wait_timer_ready(void) {
  if (wait_timer.state != 0) return wait_timer.state > 0 ? 0 : -wait_timer.state;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = wait_sig_handler; /* no SA_RESTART: the blocked wait4 returns EINTR */
  sigemptyset(&sa.sa_mask);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, WAIT_SIG);
  struct sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = WAIT_SIG;
  sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  int id = -1;
  if (sigaction(WAIT_SIG, &sa, NULL) != 0 || pthread_sigmask(SIG_UNBLOCK, &one, NULL) != 0
      || syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) != 0) {
    int err = errno ? errno : ENOSYS;
    wait_timer.state = -err;
    return err;
  }
  wait_timer.id = id;
  wait_timer.state = 1;
  return 0;
}

static int64_t monotonic_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int wait_timer_set(int64_t first_ns, long every_ns) {
  struct itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_sec = (time_t)(first_ns / 1000000000);
  its.it_value.tv_nsec = (long)(first_ns % 1000000000);
  its.it_interval.tv_nsec = every_ns;
  return (int)syscall(SYS_timer_settime, wait_timer.id, 0, &its, NULL);
}

/*
 * waitStop(pid, options, timeoutMs): [pid, status] of wait4(pid, options): a look without blocking
 * first, then blocked at most timeoutMs; [0, 0] when nothing came in time. Throws on a wait4 error
 * other than EINTR, or where the timer cannot be made.
 */
static napi_value js_wait_stop(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t pid, options;
  double timeout_ms;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || napi_get_value_int32(env, argv[1], &options) != napi_ok
      || napi_get_value_double(env, argv[2], &timeout_ms) != napi_ok) {
    napi_throw_type_error(env, NULL, "waitStop(pid, options, timeoutMs)");
    return NULL;
  }
  int status = 0, err = 0;
  long got = wait4(pid, &status, options | WNOHANG, NULL);
  if (got < 0) err = errno;
  if (got == 0 && timeout_ms > 0) {
    int terr = wait_timer_ready();
    if (terr != 0) return throw_errno(env, terr, "timer_create");
    int64_t left = (int64_t)(timeout_ms * 1e6);
    if (left < 1) left = 1;
    int64_t deadline = monotonic_ns() + left;
    if (wait_timer_set(left, WAIT_REFIRE_NS) != 0) return throw_errno(env, errno, "timer_settime");
    for (;;) {
      got = wait4(pid, &status, options, NULL);
      if (got >= 0) break;
      if (errno != EINTR) { err = errno; break; }
      if (monotonic_ns() >= deadline) { got = 0; status = 0; break; }
    }
    wait_timer_set(0, 0); /* disarmed: a signal already queued is taken on this call's way out */
  }
  if (err != 0) return throw_errno(env, err, "wait4");
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, (int32_t)got, &v));
  CHECK(napi_set_element(env, out, 0, v));
  CHECK(napi_create_int32(env, got == 0 ? 0 : status, &v));
  CHECK(napi_set_element(env, out, 1, v));
  return out;
}
