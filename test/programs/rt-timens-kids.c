/* rt-timens-kids: a time namespace made for children that none has entered yet.
 * Usage: rt-timens-kids OUTFILE DIR [thread|none]
 * Default: the process unshare(CLONE_NEWTIME)s; "thread": a second thread does, and waits;
 * "none": nobody does. On SIGTERM the thread that unshared (or the process) still has a
 * time_for_children other than its time, and a child forked now lands in it (with "none": in the
 * parent's own). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static volatile pid_t unsharer;

static ino_t ns_ino(pid_t tid, const char *name) {
  char p[128];
  struct stat st;
  snprintf(p, sizeof p, "/proc/self/task/%d/ns/%s", (int)tid, name);
  if (stat(p, &st)) RT_FAIL("stat %s: %s", p, strerror(errno));
  return st.st_ino;
}

static void *run_thread(void *arg) {
  (void)arg;
  if (unshare(CLONE_NEWTIME)) RT_FAIL("unshare in a thread: %s", strerror(errno));
  unsharer = (pid_t)syscall(SYS_gettid);
  for (;;) pause();
  return NULL;
}

/* The time namespace of a child the main thread forks now. */
static ino_t child_ns(void) {
  int p[2];
  if (pipe(p)) RT_FAIL("pipe: %s", strerror(errno));
  pid_t c = fork();
  if (c < 0) RT_FAIL("fork: %s", strerror(errno));
  if (c == 0) {
    struct stat st;
    ino_t ino = stat("/proc/self/ns/time", &st) ? 0 : st.st_ino;
    if (write(p[1], &ino, sizeof ino) != sizeof ino) _exit(1);
    _exit(0);
  }
  ino_t ino = 0;
  if (read(p[0], &ino, sizeof ino) != sizeof ino) RT_FAIL("no answer from the child");
  waitpid(c, NULL, 0);
  close(p[0]);
  close(p[1]);
  return ino;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  pid_t self = getpid();
  int thread = !strcmp(rt_mode, "thread"), none = !strcmp(rt_mode, "none");
  if (thread) {
    pthread_t t;
    if (pthread_create(&t, NULL, run_thread, NULL)) RT_FAIL("pthread_create");
    while (!unsharer) usleep(1000);
  } else if (!none) {
    if (unshare(CLONE_NEWTIME)) RT_FAIL("unshare: %s", strerror(errno));
    unsharer = self;
  }
  rt_ready("pid=%d unsharer=%d\n", self, (int)unsharer);
  rt_wait_term();
  if (none) {
    if (ns_ino(self, "time_for_children") != ns_ino(self, "time")) RT_FAIL("time_for_children is not its time namespace");
    if (child_ns() != ns_ino(self, "time")) RT_FAIL("a child forked now is in time namespace %lu, not its parent's", (unsigned long)child_ns());
  } else {
    ino_t kids = ns_ino(unsharer, "time_for_children");
    if (kids == ns_ino(unsharer, "time")) RT_FAIL("thread %d has no time namespace for its children any more", (int)unsharer);
    if (!thread && child_ns() != kids) RT_FAIL("a child forked now is in time namespace %lu, not %lu made for it", (unsigned long)child_ns(), (unsigned long)kids);
  }
  rt_pass();
}
