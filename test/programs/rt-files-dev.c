/* rt-files-dev: character devices. Usage: rt-files-dev OUTFILE DIR
 * /dev/null (fd 4, O_WRONLY), /dev/zero (fd 5, O_RDONLY, close-on-exec), /dev/urandom
 * (fd 6, O_RDONLY|O_NONBLOCK); on SIGTERM: same devices, flags, and they work. */
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
  char b[64]; memset(b, 1, sizeof b);
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
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
