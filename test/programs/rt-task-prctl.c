/* rt-task-prctl: personality, thread name, no_new_privs, dumpable 0, the same PID, and a
 * membarrier registration (PRIVATE_EXPEDITED, where the kernel can tell it: 6.3's GET_REGISTRATIONS).
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

#include "rt-check.h"
#include <sys/personality.h>
#include <sys/prctl.h>

#define PERS (ADDR_NO_RANDOMIZE | UNAME26)
#define MEMBARRIER_CMD_PRIVATE_EXPEDITED (1 << 3)
#define MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4)
#define MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)
int main(int argc, char **argv) {
  start(argc, argv);
  pid_t pid = getpid();
  if (personality(PERS) < 0) DIE("personality");
  if (prctl(PR_SET_NAME, "rt-prctl-name", 0, 0, 0)) DIE("PR_SET_NAME");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) DIE("PR_SET_NO_NEW_PRIVS");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) DIE("PR_SET_DUMPABLE");
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0)) DIE("membarrier register");
  int registrations = syscall(SYS_membarrier, MEMBARRIER_CMD_GET_REGISTRATIONS, 0, 0) >= 0;
  ready_and_wait();
  char name[32] = { 0 };
  prctl(PR_GET_NAME, name, 0, 0, 0);
  int pers = personality(0xffffffff);
  if (syscall(SYS_getpid) != pid) say("FAIL: PID %ld, want %d\n", (long)syscall(SYS_getpid), pid);
  else if (pers != PERS) say("FAIL: personality 0x%x, want 0x%x\n", pers, PERS);
  else if (strcmp(name, "rt-prctl-name")) say("FAIL: thread name '%s', want 'rt-prctl-name'\n", name);
  else if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) say("FAIL: no_new_privs %d, want 1\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  else if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) say("FAIL: dumpable %d, want 0\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  else if (registrations && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0)) say("FAIL: membarrier(PRIVATE_EXPEDITED): %s, want it registered\n", strerror(errno));
  else say("PASS\n");
  return 0;
}
