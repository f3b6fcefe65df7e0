/* thread-churn: threads that come and go all the time. Three spawner threads each start a detached
 * thread, which counts once and ends, again and again: whenever cryo lists /proc/PID/task, some of
 * the threads it lists are ending or gone by the time it seizes or reads them. A dump must take
 * the threads it stopped and leave those that ended out (tests: dump-thread-churn.test.ts). At SIGTERM
 * every spawner must still be starting threads, and the threads must still run: PASS.
 * usage: thread-churn OUTFILE DIR
 * READY spawners=TID,TID,TID */
#include "rt.h"
#include <pthread.h>

#define SPAWNERS 3

static volatile long born[SPAWNERS], ran;
static volatile pid_t tids[SPAWNERS];
static volatile int stop;

static void *brief(void *arg) {
  /* Alive for 0-500 us: a listing of /proc/PID/task holds a few of them, some about to end. */
  struct timespec ts = { 0, ((long)arg % 6) * 100 * 1000L };
  if (ts.tv_nsec) nanosleep(&ts, NULL);
  __atomic_add_fetch(&ran, 1, __ATOMIC_RELAXED);
  return NULL;
}

static void *spawner(void *arg) {
  long i = (long)arg;
  tids[i] = (pid_t)syscall(SYS_gettid);
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, 64 * 1024);
  while (!stop) {
    pthread_t t;
    if (pthread_create(&t, &a, brief, (void *)born[i]) == 0) born[i]++;
    else sched_yield(); /* too many at once (EAGAIN): the others end first */
  }
  return NULL;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  pthread_t s[SPAWNERS];
  for (long i = 0; i < SPAWNERS; i++) if (pthread_create(&s[i], NULL, spawner, (void *)i)) RT_FAIL("pthread_create spawner %ld", i);
  for (long i = 0; i < SPAWNERS; i++) while (born[i] < 100) sched_yield();
  rt_ready("spawners=%d,%d,%d\n", tids[0], tids[1], tids[2]);
  rt_wait_term();
  long b[SPAWNERS], r = ran;
  for (int i = 0; i < SPAWNERS; i++) b[i] = born[i];
  struct timespec ts = { 0, 200 * 1000L * 1000L };
  nanosleep(&ts, NULL);
  for (int i = 0; i < SPAWNERS; i++) RT_CHECK(born[i] > b[i], "spawner %d stopped starting threads (%ld)", i, b[i]);
  RT_CHECK(ran > r, "no thread ran after the dumps (%ld)", r);
  stop = 1;
  for (int i = 0; i < SPAWNERS; i++) pthread_join(s[i], NULL);
  rt_pass();
}
