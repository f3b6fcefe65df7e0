/* fault-seize: a thread that does not stop at once for a tracer. "vforker" spends nearly all its
 * time in vfork(), waiting (uninterruptibly) for a child that sleeps 300 ms and exits: a
 * PTRACE_INTERRUPT takes effect only once that child is gone. "sleeper" comes after it in
 * /proc/PID/task. A dump that fails after it seized and interrupted the vforker, while the vforker
 * still waits, must let it go all the same (tests: fault-real.test.ts). At SIGTERM both threads must
 * still be counting: PASS.
 * usage: fault-seize OUTFILE DIR
 * READY vforker=TID sleeper=TID */
#include "rt.h"
#include <pthread.h>
#include <sys/wait.h>

static volatile long forks, naps;
static volatile int stop;
static volatile pid_t tids[2];

static void nap_ms(int ms) {
  struct timespec ts = { 0, ms * 1000L * 1000L };
  nanosleep(&ts, NULL);
}

static void *vforker(void *arg) {
  (void)arg;
  tids[0] = (pid_t)syscall(SYS_gettid);
  while (!stop) {
    pid_t c = vfork();
    if (c == 0) {
      nap_ms(300);
      _exit(0);
    }
    if (c > 0) waitpid(c, NULL, __WALL);
    forks++;
  }
  return NULL;
}

static void *sleeper(void *arg) {
  (void)arg;
  tids[1] = (pid_t)syscall(SYS_gettid);
  while (!stop) {
    nap_ms(10);
    naps++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  pthread_t a, b;
  if (pthread_create(&a, NULL, vforker, NULL)) RT_FAIL("pthread_create vforker");
  while (!tids[0]) nap_ms(1);
  if (pthread_create(&b, NULL, sleeper, NULL)) RT_FAIL("pthread_create sleeper");
  while (!tids[1] || !forks) nap_ms(1);
  rt_ready("vforker=%d sleeper=%d\n", tids[0], tids[1]);
  rt_wait_term();
  long f = forks, n = naps;
  nap_ms(900);
  RT_CHECK(forks > f, "the vforker stopped counting (%ld)", f);
  RT_CHECK(naps > n, "the sleeper stopped counting (%ld)", n);
  stop = 1;
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  rt_pass();
}
