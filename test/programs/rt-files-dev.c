/* rt-files-dev: character devices. Usage: rt-files-dev OUTFILE DIR
 * /dev/null (fd 4, O_WRONLY), /dev/zero (fd 5, O_RDONLY, close-on-exec), /dev/urandom
 * (fd 6, O_RDONLY|O_NONBLOCK); fd 7: a node DIR/null.node of /dev/null's device (1:3), mode
 * 0640, owner 4321:8765, opened O_RDWR and unlinked (a deleted device node); on SIGTERM: same
 * devices, flags, fd 7's node still unlinked with its mode and owner, and they work.
 * Mode "console": fd 8 is DIR/console.node, a node of the console (5:1), opened O_RDONLY; after
 * restore it is still 5:1. */
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
#include <sys/sysmacros.h>

struct want { int fd; const char *path; int flags; int cloexec; unsigned maj, min; };
static const struct want w[] = {
  { 4, "/dev/null", O_WRONLY, 0, 1, 3 },
  { 5, "/dev/zero", O_RDONLY, 1, 1, 5 },
  { 6, "/dev/urandom", O_RDONLY | O_NONBLOCK, 0, 1, 9 },
};

static char node[4096];

static int check(void) {
  for (int i = 0; i < 3; i++) {
    struct stat st;
    if (fstat(w[i].fd, &st)) FAIL("fd %d: %s", w[i].fd, strerror(errno));
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != w[i].maj || minor(st.st_rdev) != w[i].min)
      FAIL("fd %d is device %u:%u, want %u:%u (%s)", w[i].fd, major(st.st_rdev), minor(st.st_rdev), w[i].maj, w[i].min, w[i].path);
    int fl = fcntl(w[i].fd, F_GETFL) & (O_ACCMODE | O_NONBLOCK);
    if (fl != w[i].flags) FAIL("fd %d (%s) flags 0%o, want 0%o", w[i].fd, w[i].path, fl, w[i].flags);
    if ((fcntl(w[i].fd, F_GETFD) & FD_CLOEXEC) != w[i].cloexec) FAIL("fd %d (%s) close-on-exec wrong", w[i].fd, w[i].path);
  }
  struct stat st;
  if (fstat(7, &st)) FAIL("fd 7: %s", strerror(errno));
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
    FAIL("fd 7 (the deleted node) is device %u:%u mode 0%o, want 1:3, a character device", major(st.st_rdev), minor(st.st_rdev), st.st_mode);
  if ((st.st_mode & 07777) != 0640 || st.st_uid != 4321 || st.st_gid != 8765)
    FAIL("fd 7 (the deleted node) has mode 0%o owner %u:%u, want 0640 4321:8765", st.st_mode & 07777, st.st_uid, st.st_gid);
  if (st.st_nlink != 0 || access(node, F_OK) == 0) FAIL("the deleted node %s has a name again (%lu links)", node, (unsigned long)st.st_nlink);
  if ((fcntl(7, F_GETFL) & O_ACCMODE) != O_RDWR) FAIL("fd 7 (the deleted node) is not O_RDWR");
  if (!strcmp(rt_mode, "console")) {
    if (fstat(8, &st)) FAIL("fd 8: %s", strerror(errno));
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 1)
      FAIL("fd 8 is device %u:%u, want 5:1 (the console)", major(st.st_rdev), minor(st.st_rdev));
  }
  char b[64]; memset(b, 1, sizeof b);
  if (write(7, b, sizeof b) != sizeof b) FAIL("writing the deleted node: %s", strerror(errno));
  if (write(4, b, sizeof b) != sizeof b) FAIL("writing /dev/null: %s", strerror(errno));
  if (read(5, b, sizeof b) != sizeof b) FAIL("reading /dev/zero: %s", strerror(errno));
  for (size_t i = 0; i < sizeof b; i++) if (b[i]) FAIL("/dev/zero gave %d", b[i]);
  if (read(6, b, sizeof b) != sizeof b) FAIL("reading /dev/urandom: %s", strerror(errno));
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  for (int i = 0; i < 3; i++) {
    int fd = open(w[i].path, w[i].flags | (w[i].cloexec ? O_CLOEXEC : 0));
    if (fd != w[i].fd) DIE(w[i].path);
  }
  snprintf(node, sizeof node, "%s/null.node", argv[2]);
  if (mknod(node, S_IFCHR | 0640, makedev(1, 3)) || chown(node, 4321, 8765)) DIE(node);
  if (open(node, O_RDWR) != 7 || unlink(node)) DIE(node);
  if (!strcmp(rt_mode, "console")) {
    char con[4096];
    snprintf(con, sizeof con, "%s/console.node", argv[2]);
    if (mknod(con, S_IFCHR | 0600, makedev(5, 1)) || open(con, O_RDONLY | O_NOCTTY) != 8) DIE(con);
  }
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
