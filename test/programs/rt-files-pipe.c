/* rt-files-pipe: a pipe and a FIFO, both ends held, with data in their buffers.
 * Usage: rt-files-pipe OUTFILE DIR
 * pipe: read end fd 4, write end fd 5 (O_NONBLOCK, close-on-exec), 128 KiB buffer;
 * FIFO DIR/fifo: read end fd 6 (O_NONBLOCK), write end fd 7; the pipe's ends opened again
 * through /proc (open file descriptions of their own): fd 8 writing (blocking), fd 9 reading
 * (O_NONBLOCK); an empty pipe at fds 10 and 11 with a 256 KiB buffer. On SIGTERM: the same ends of the same pipes hold the same bytes, in order, and
 * each open end has its own flags. */
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

#define PIPE_DATA "bytes queued in the pipe"
#define FIFO_DATA "bytes queued in the fifo"
static char fifo_path[512];

static int drain(int fd, const char *what, const char *want) {
  char b[256] = { 0 };
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  ssize_t n = read(fd, b, sizeof b - 1);
  fcntl(fd, F_SETFL, fl);
  if (n < 0) FAIL("%s holds nothing (%s), want '%s'", what, strerror(errno), want);
  if ((size_t)n != strlen(want) || memcmp(b, want, n)) FAIL("%s holds '%s', want '%s'", what, b, want);
  return 0;
}

static int check(void) {
  struct stat a, b;
  if (fstat(4, &a) || fstat(5, &b) || !S_ISFIFO(a.st_mode) || a.st_ino != b.st_ino) FAIL("fds 4 and 5 are not one pipe");
  if ((fcntl(4, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_RDONLY) FAIL("fd 4 flags 0%o, want O_RDONLY", fcntl(4, F_GETFL));
  if ((fcntl(5, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != (O_WRONLY | O_NONBLOCK)) FAIL("fd 5 flags 0%o, want O_WRONLY|O_NONBLOCK", fcntl(5, F_GETFL));
  if (!(fcntl(5, F_GETFD) & FD_CLOEXEC) || (fcntl(4, F_GETFD) & FD_CLOEXEC)) FAIL("close-on-exec of fds 4/5 wrong");
  if (fcntl(5, F_GETPIPE_SZ) != 131072) FAIL("pipe buffer %d bytes, want 131072", fcntl(5, F_GETPIPE_SZ));
  struct stat f;
  if (fstat(6, &a) || fstat(7, &b) || stat(fifo_path, &f) || a.st_ino != f.st_ino || b.st_ino != f.st_ino) FAIL("fds 6 and 7 are not %s", fifo_path);
  if ((fcntl(6, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != (O_RDONLY | O_NONBLOCK)) FAIL("fd 6 flags 0%o, want O_RDONLY|O_NONBLOCK", fcntl(6, F_GETFL));
  if ((fcntl(7, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_WRONLY) FAIL("fd 7 flags 0%o, want O_WRONLY", fcntl(7, F_GETFL));
  if (fcntl(10, F_GETPIPE_SZ) != 262144) FAIL("empty pipe buffer %d bytes, want 262144", fcntl(10, F_GETPIPE_SZ));
  struct stat p4, p8;
  if (fstat(4, &p4) || fstat(8, &p8) || p8.st_ino != p4.st_ino) FAIL("fd 8 is not the pipe of fd 4");
  if ((fcntl(8, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_WRONLY) FAIL("fd 8 flags 0%o, want O_WRONLY", fcntl(8, F_GETFL));
  if ((fcntl(9, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != (O_RDONLY | O_NONBLOCK)) FAIL("fd 9 flags 0%o, want O_RDONLY|O_NONBLOCK", fcntl(9, F_GETFL));
  if (drain(4, "the pipe", PIPE_DATA) || drain(6, "the fifo", FIFO_DATA)) return 1;
  /* Both still work as pipes. */
  if (write(5, "z", 1) != 1 || drain(4, "the pipe after a write", "z")) FAIL("pipe no longer carries data");
  if (write(7, "q", 1) != 1 || drain(6, "the fifo after a write", "q")) FAIL("fifo no longer carries data");
  if (write(8, "y", 1) != 1 || drain(9, "the pipe written by fd 8", "y")) FAIL("fds 8 and 9 are not that pipe");
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  int p[2];
  if (pipe(p) || p[0] != 4 || p[1] != 5) DIE("pipe");
  fcntl(5, F_SETFL, O_NONBLOCK);
  fcntl(5, F_SETFD, FD_CLOEXEC);
  if (fcntl(5, F_SETPIPE_SZ, 131072) < 0) DIE("F_SETPIPE_SZ");
  if (write(5, PIPE_DATA, strlen(PIPE_DATA)) != (ssize_t)strlen(PIPE_DATA)) DIE("write pipe");
  snprintf(fifo_path, sizeof fifo_path, "%s/fifo", argv[2]);
  if (mkfifo(fifo_path, 0600)) DIE("mkfifo");
  if (open(fifo_path, O_RDONLY | O_NONBLOCK) != 6 || open(fifo_path, O_WRONLY) != 7) DIE("open fifo");
  if (write(7, FIFO_DATA, strlen(FIFO_DATA)) != (ssize_t)strlen(FIFO_DATA)) DIE("write fifo");
  if (open("/proc/self/fd/5", O_WRONLY) != 8 || open("/proc/self/fd/4", O_RDONLY | O_NONBLOCK) != 9) DIE("reopen pipe");
  int e[2];
  if (pipe(e) || dup2(e[0], 10) != 10 || dup2(e[1], 11) != 11 || fcntl(11, F_SETPIPE_SZ, 262144) < 0) DIE("empty pipe");
  if (e[0] != 10) close(e[0]);
  if (e[1] != 11) close(e[1]);
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
