/* rt-pidns-kids: a PID namespace made for children (unshare(CLONE_NEWPID)) that none is in now.
 * Usage: rt-pidns-kids OUTFILE DIR [thread|dead|none|undone]
 * Default: the process unshares before its first child (its ns/pid_for_children gives ENOENT);
 * "thread": a second thread does, and waits; "dead": the process unshares and its first child,
 * PID 1 of the new namespace, has exited (forks fail with ENOMEM now); "none": nobody unshares;
 * "undone": the process unshares, then setns()es back to its own PID namespace, which is what a
 * restore that ignored the unshare would give, while it checks as the default mode does (so it
 * fails). On SIGTERM each mode checks that its state is still there. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"

static volatile pid_t unsharer;

/* The link of /proc/self/task/TID/ns/NAME, or "" with errno set. */
static const char *ns_link(pid_t tid, const char *name, char *buf, size_t len) {
  char p[128];
  snprintf(p, sizeof p, "/proc/self/task/%d/ns/%s", (int)tid, name);
  ssize_t n = readlink(p, buf, len - 1);
  buf[n < 0 ? 0 : n] = 0;
  return buf;
}

static void *run_thread(void *arg) {
  (void)arg;
  if (unshare(CLONE_NEWPID)) RT_FAIL("unshare in a thread: %s", strerror(errno));
  unsharer = (pid_t)syscall(SYS_gettid);
  for (;;) pause();
  return NULL;
}

/* The PID a child forked now sees as its own (1: the first of a new namespace), or -errno. */
static long child_pid(void) {
  int p[2];
  if (pipe(p)) RT_FAIL("pipe: %s", strerror(errno));
  pid_t c = fork();
  if (c < 0) {
    close(p[0]);
    close(p[1]);
    return -errno;
  }
  if (c == 0) {
    pid_t me = getpid();
    if (write(p[1], &me, sizeof me) != sizeof me) _exit(1);
    _exit(0);
  }
  pid_t seen = 0;
  if (read(p[0], &seen, sizeof seen) != sizeof seen) RT_FAIL("no answer from the child");
  waitpid(c, NULL, 0);
  close(p[0]);
  close(p[1]);
  return seen;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  pid_t self = getpid();
  int thread = !strcmp(rt_mode, "thread"), none = !strcmp(rt_mode, "none");
  int dead = !strcmp(rt_mode, "dead"), undone = !strcmp(rt_mode, "undone");
  char own[64], kids[64];
  ns_link(self, "pid", own, sizeof own);
  if (thread) {
    pthread_t t;
    if (pthread_create(&t, NULL, run_thread, NULL)) RT_FAIL("pthread_create");
    while (!unsharer) usleep(1000);
  } else if (!none) {
    int fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    if (fd < 0) RT_FAIL("open ns/pid: %s", strerror(errno));
    if (unshare(CLONE_NEWPID)) RT_FAIL("unshare: %s", strerror(errno));
    unsharer = self;
    if (dead && child_pid() != 1) RT_FAIL("the first child is not PID 1 of a new namespace");
    if (undone && setns(fd, CLONE_NEWPID)) RT_FAIL("setns back: %s", strerror(errno));
    close(fd);
  }
  rt_ready("pid=%d unsharer=%d\n", self, (int)unsharer);
  rt_wait_term();
  if (none) {
    if (strcmp(ns_link(self, "pid_for_children", kids, sizeof kids), own)) RT_FAIL("pid_for_children is %s, not its own %s", kids, own);
    long c = child_pid();
    if (c == 1 || c < 0) RT_FAIL("a child forked now is not in its parent's PID namespace (it is PID %ld)", c);
  } else if (dead) {
    ns_link(self, "pid_for_children", kids, sizeof kids);
    if (!kids[0] || !strcmp(kids, own)) RT_FAIL("pid_for_children is '%s', not the dead namespace made for the children", kids);
    long c = child_pid();
    if (c != -ENOMEM) RT_FAIL("a fork into a namespace whose PID 1 has died did not fail with ENOMEM (%ld)", c);
  } else {
    errno = 0;
    if (ns_link(unsharer, "pid_for_children", kids, sizeof kids)[0] || errno != ENOENT)
      RT_FAIL("thread %d has pid_for_children '%s' (errno %d), not a namespace no child has entered (ENOENT)", (int)unsharer, kids, errno);
    if (!thread) {
      long c = child_pid();
      if (c != 1) RT_FAIL("a child forked now is PID %ld, not PID 1 of the namespace made for it", c);
    }
  }
  rt_pass();
}
