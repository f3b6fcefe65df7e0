/* rt-seccomp-threads: seccomp state that cryo's own calls into the task must get past, and that
 * threads share. Usage: rt-seccomp-threads OUTFILE DIR tsync|thread|strict
 * tsync: a filter (getppid fails with ENOMSG) installed before a second thread is made, which
 *   inherits it; on SIGTERM the process adds a filter with SECCOMP_FILTER_FLAG_TSYNC, which works
 *   only while both threads still share the first one, and the thread then has both.
 * thread: a second thread alone has a filter making every prctl() fail with errno 1234 (cryo's
 *   calls at dump include prctl); on SIGTERM prctl still fails so there and works in the main thread.
 * strict: a child in strict mode (read, write, exit, rt_sigreturn only) waits in read(); on
 *   SIGTERM it echoes a byte, then its getpid() gets it killed by SIGKILL, as strict mode does. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"

#define MAGIC 1234

static volatile int go, answer = -1;
static volatile pid_t tid;

/* A filter making syscall `nr` fail with `err`, everything else allowed. */
static long add_filter(int nr, int err, unsigned flags) {
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | err),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof f / sizeof f[0], f };
  return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* The errno a prctl() of this thread gets (0: it works). */
static int prctl_errno(void) {
  errno = 0;
  return prctl(PR_GET_DUMPABLE) < 0 ? errno : 0;
}

/* "Seccomp_filters:" of a thread of this process. */
static int filters_of(pid_t t) {
  char p[64], b[4096] = { 0 };
  snprintf(p, sizeof p, "/proc/self/task/%d/status", (int)t);
  int fd = open(p, O_RDONLY);
  if (fd < 0 || read(fd, b, sizeof b - 1) <= 0) RT_FAIL("read %s: %s", p, strerror(errno));
  close(fd);
  const char *s = strstr(b, "Seccomp_filters:");
  return s ? atoi(s + 16) : -1;
}

static void *run_thread(void *arg) {
  if (arg && add_filter(SYS_prctl, MAGIC, 0)) RT_FAIL("seccomp in the thread: %s", strerror(errno));
  tid = (pid_t)syscall(SYS_gettid);
  while (!go) usleep(1000);
  answer = prctl_errno();
  return NULL;
}

static void strict_child(int in, int out) {
  char c;
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)) _exit(2);
  if (read(in, &c, 1) != 1) _exit(3);
  if (write(out, &c, 1) != 1) _exit(4);
  syscall(SYS_getpid); /* not allowed: SIGKILL */
  syscall(SYS_exit, 5);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int tsync = !strcmp(rt_mode, "tsync"), strict = !strcmp(rt_mode, "strict");
  pthread_t t;
  int to[2], from[2];
  pid_t child = 0;
  if (strict) {
    if (pipe(to) || pipe(from)) RT_FAIL("pipe: %s", strerror(errno));
    child = fork();
    if (child < 0) RT_FAIL("fork: %s", strerror(errno));
    if (child == 0) strict_child(to[0], from[1]);
    char st[64];
    snprintf(st, sizeof st, "/proc/%d/status", (int)child);
    for (int i = 0; i < 5000; i++) { /* until the child is in strict mode */
      char b[4096] = { 0 };
      int fd = open(st, O_RDONLY);
      if (fd >= 0 && read(fd, b, sizeof b - 1) > 0 && strstr(b, "Seccomp:\t1\n")) { close(fd); break; }
      if (fd >= 0) close(fd);
      usleep(1000);
    }
  } else {
    if (tsync && add_filter(SYS_getppid, ENOMSG, 0)) RT_FAIL("seccomp: %s", strerror(errno));
    if (pthread_create(&t, NULL, run_thread, tsync ? NULL : (void *)1)) RT_FAIL("pthread_create");
    while (!tid) usleep(1000);
  }
  rt_ready("pid=%d child=%d tid=%d\n", (int)getpid(), (int)child, (int)tid);
  rt_wait_term();
  if (strict) {
    char c = 'x', back = 0;
    if (write(to[1], &c, 1) != 1) RT_FAIL("write to the child: %s", strerror(errno));
    if (read(from[0], &back, 1) != 1 || back != 'x') RT_FAIL("the strict-mode child did not echo the byte");
    int st;
    if (waitpid(child, &st, 0) != child) RT_FAIL("waitpid: %s", strerror(errno));
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) RT_FAIL("the child's getpid() did not kill it (status 0x%x): it is not in strict mode", st);
    rt_pass();
  }
  if (tsync) {
    long r = add_filter(SYS_getpgrp, EL2HLT, SECCOMP_FILTER_FLAG_TSYNC);
    if (r < 0) RT_FAIL("a filter with TSYNC: %s", strerror(errno));
    if (r > 0) RT_FAIL("a filter with TSYNC gave %ld: thread %ld does not share the first filter", r, r);
    if (filters_of(tid) != 2) RT_FAIL("thread %d has %d filters, not the 2 it shares", (int)tid, filters_of(tid));
    errno = 0;
    if (syscall(SYS_getppid) != -1 || errno != ENOMSG) RT_FAIL("getppid() works: the first filter is gone");
  }
  go = 1;
  pthread_join(t, NULL);
  if (!tsync && answer != MAGIC) RT_FAIL("prctl() in the filtered thread gave errno %d, not %d", answer, MAGIC);
  if (tsync && answer != 0) RT_FAIL("prctl() in the thread gave errno %d", answer);
  if (prctl_errno()) RT_FAIL("prctl() in the main thread fails (errno %d)", prctl_errno());
  rt_pass();
}
