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

#include "rt-check.h"
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
