/* rt-files-fifo-ghost: deleted FIFOs and deleted socket names with peers. Usage: rt-files-fifo-ghost OUTFILE DIR
 * fd 4 (O_RDWR) and fd 5 (O_RDONLY) are one FIFO, unlinked, with bytes in its buffer.
 * fd 6 is a datagram socket bound to DIR/sock, fd 7 connected to it; the name was unlinked and a
 * FIFO made there, open as fd 8. fd 9 is bound to DIR/gone.sock, fd 10 connected to it, the name
 * unlinked. On SIGTERM: the same state, both connections carry a datagram, and DIR holds only sock. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rt-check.h"

#define QUEUED "bytes queued in the deleted fifo"
static char dir[256], fifo_path[300], sock_path[300], gone_path[300];

static int bound(const char *path) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a)) DIE("bind");
  return s;
}

static int connected(const char *path) {
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) DIE("connect");
  return s;
}

/* A datagram sent on `from` (connected) arrives on `to`, which is bound to `name`. */
static int carries(int from, int to, const char *name) {
  char buf[64] = "";
  struct sockaddr_un a;
  socklen_t len = sizeof a;
  if (send(from, "ping", 4, MSG_DONTWAIT) != 4) FAIL("send on fd %d: %s", from, strerror(errno));
  if (recv(to, buf, sizeof buf, MSG_DONTWAIT) != 4 || memcmp(buf, "ping", 4)) FAIL("fd %d did not receive fd %d's datagram: %s", to, from, strerror(errno));
  if (getsockname(to, (struct sockaddr *)&a, &len) || strcmp(a.sun_path, name)) FAIL("fd %d is bound to '%s', want %s", to, a.sun_path, name);
  return 0;
}

static int check(void) {
  struct stat a, b;
  char got[400], want[400], buf[64];
  if (fstat(4, &a) || fstat(5, &b)) FAIL("fstat: %s", strerror(errno));
  if (!S_ISFIFO(a.st_mode) || a.st_nlink != 0) FAIL("fd 4 mode 0%o links %ld, want a FIFO with 0 links", a.st_mode, (long)a.st_nlink);
  if ((a.st_mode & 07777) != 0640) FAIL("fd 4 mode 0%o, want 0640", a.st_mode & 07777);
  if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) FAIL("fd 4 and fd 5 are different FIFOs");
  if ((fcntl(4, F_GETFL) & O_ACCMODE) != O_RDWR || (fcntl(5, F_GETFL) & O_ACCMODE) != O_RDONLY) FAIL("fd 4/5 access modes differ");
  snprintf(want, sizeof want, "%s (deleted)", fifo_path);
  ssize_t n = readlink("/proc/self/fd/5", got, sizeof got - 1); got[n < 0 ? 0 : n] = 0;
  if (strcmp(got, want)) FAIL("fd 5 is %s, want %s", got, want);
  if (access(fifo_path, F_OK) == 0) FAIL("%s exists again", fifo_path);
  n = read(5, buf, sizeof buf - 1); buf[n < 0 ? 0 : n] = 0;
  if (strcmp(buf, QUEUED)) FAIL("the deleted fifo holds '%s', want '%s'", buf, QUEUED);
  if (write(4, "x", 1) != 1 || read(5, buf, 1) != 1 || buf[0] != 'x') FAIL("fd 4 -> fd 5 does not carry a byte");
  if (carries(7, 6, sock_path) || carries(10, 9, gone_path)) return 1;
  if (stat(sock_path, &a) || fstat(8, &b)) FAIL("%s: %s", sock_path, strerror(errno));
  if (!S_ISFIFO(a.st_mode) || a.st_ino != b.st_ino) FAIL("%s is not the FIFO of fd 8 (mode 0%o)", sock_path, a.st_mode);
  DIR *d = opendir(dir);
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "sock")) FAIL("%s/%s exists: left behind", dir, e->d_name);
  closedir(d);
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  snprintf(dir, sizeof dir, "%s/d", argv[2]);
  snprintf(fifo_path, sizeof fifo_path, "%s/gone.fifo", argv[2]);
  snprintf(sock_path, sizeof sock_path, "%s/sock", dir);
  snprintf(gone_path, sizeof gone_path, "%s/gone.sock", dir);
  if (mkdir(dir, 0755) || mkfifo(fifo_path, 0640) || chmod(fifo_path, 0640)) DIE("mkfifo");
  if (open(fifo_path, O_RDWR) != 4 || open(fifo_path, O_RDONLY | O_NONBLOCK) != 5) DIE("open fifo");
  if (fcntl(5, F_SETFL, 0) || write(4, QUEUED, strlen(QUEUED)) != (ssize_t)strlen(QUEUED) || unlink(fifo_path)) DIE("fill fifo");
  if (bound(sock_path) != 6 || connected(sock_path) != 7 || unlink(sock_path)) DIE("sock");
  if (mkfifo(sock_path, 0600) || open(sock_path, O_RDWR) != 8) DIE("fifo at sock");
  if (bound(gone_path) != 9 || connected(gone_path) != 10 || unlink(gone_path)) DIE("gone.sock");
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
