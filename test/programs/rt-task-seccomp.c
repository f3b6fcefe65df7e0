/* rt-task-seccomp: a seccomp filter that makes getppid() fail with ENOMSG (everything else
 * allowed). Usage: rt-task-seccomp OUTFILE DIR. On SIGTERM: the filter is there (one), getppid()
 * still fails with ENOMSG, other calls work. */
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
#include <stddef.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>

int main(int argc, char **argv) {
  start(argc, argv);
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOMSG),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof f / sizeof f[0], f };
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) DIE("seccomp");
  ready_and_wait();
  char st[4096] = { 0 };
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0 || read(fd, st, sizeof st - 1) <= 0) { say("FAIL: /proc/self/status: %s\n", strerror(errno)); return 0; }
  errno = 0;
  long r = syscall(SYS_getppid);
  int e = errno;
  if (!strstr(st, "Seccomp:\t2\n") || !strstr(st, "Seccomp_filters:\t1\n")) say("FAIL: seccomp mode/filters not 2/1: %s\n", strstr(st, "Seccomp:") ? strstr(st, "Seccomp:") : "?");
  else if (r != -1 || e != ENOMSG) say("FAIL: getppid() gave %ld errno %d (%s), want -1 errno %d\n", r, e, strerror(e), ENOMSG);
  else if (getuid() != 0) say("FAIL: getuid() does not work\n");
  else say("PASS\n");
  return 0;
}
