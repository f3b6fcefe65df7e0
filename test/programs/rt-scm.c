/* rt-scm: descriptors in flight in unix socket queues (SCM_RIGHTS), checked after a round trip.
 * usage: rt-scm OUTFILE DIR
 * Datagram pair d0 -> d1, queued at d1:
 *   "pipe-r"  + the read end of pipe p (closed here: only in flight), "hello" waiting in the pipe
 *   "file"    + DIR/f opened O_RDWR at offset 3 (closed here: only in flight)
 *   "held"    + the write end of pipe p, which the task still holds as fd w
 * Stream pair s0 -> s1, queued at s1: "two" + the read end of pipe q and an eventfd (count 7), both
 * only in flight. On SIGTERM each message comes with its descriptors, which are those files.
 * usage: rt-scm OUTFILE DIR loop
 * A datagram pair l0, l1 bound to abstract names (@rt-scm-loop-PID-0 and -1), each sent in the
 * other's queue (a loop: once the task dies, only the kernel's garbage collector frees them, and
 * until then their names stay bound). On SIGTERM each queue gives the other socket, by its name. */
#include "rt.h"
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>
#include <sys/stat.h>

static void send_fds(int via, const char *msg, int n, const int *fds) {
  char cbuf[CMSG_SPACE(4 * sizeof(int))] = { 0 };
  struct iovec iov = { (void *)msg, strlen(msg) };
  struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
  struct cmsghdr *c = CMSG_FIRSTHDR(&h);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(n * sizeof(int));
  memcpy(CMSG_DATA(c), fds, n * sizeof(int));
  if (sendmsg(via, &h, 0) != (ssize_t)strlen(msg)) RT_FAIL("sendmsg %s: %s", msg, strerror(errno));
}

/* Receives one message: its text must be `want`; returns how many descriptors came (into fds). */
static int recv_fds(int via, const char *want, int *fds) {
  char b[64] = { 0 }, cbuf[CMSG_SPACE(4 * sizeof(int))];
  struct iovec iov = { b, sizeof b - 1 };
  struct msghdr h = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
  ssize_t n = recvmsg(via, &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (n < 0) RT_FAIL("recvmsg for '%s': %s", want, strerror(errno));
  if (strcmp(b, want)) RT_FAIL("got '%s', want '%s'", b, want);
  struct cmsghdr *c = CMSG_FIRSTHDR(&h);
  if (!c || c->cmsg_type != SCM_RIGHTS) RT_FAIL("'%s' came without descriptors", want);
  int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
  memcpy(fds, CMSG_DATA(c), k * sizeof(int));
  return k;
}

static void loop(void) {
  int l[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, l)) RT_FAIL("socketpair: %s", strerror(errno));
  struct sockaddr_un a[2];
  socklen_t len[2];
  for (int i = 0; i < 2; i++) {
    memset(&a[i], 0, sizeof a[i]);
    a[i].sun_family = AF_UNIX;
    int n = snprintf(a[i].sun_path + 1, sizeof a[i].sun_path - 1, "rt-scm-loop-%d-%d", getpid(), i);
    len[i] = offsetof(struct sockaddr_un, sun_path) + 1 + n;
    if (bind(l[i], (struct sockaddr *)&a[i], len[i])) RT_FAIL("bind: %s", strerror(errno));
  }
  send_fds(l[0], "to-l1", 1, &l[0]);
  send_fds(l[1], "to-l0", 1, &l[1]);
  rt_ready("l0=%d l1=%d\n", l[0], l[1]);
  rt_wait_term();
  for (int i = 0; i < 2; i++) {
    int fds[4];
    if (recv_fds(l[i], i ? "to-l1" : "to-l0", fds) != 1) RT_FAIL("l%d: not one descriptor", i);
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    if (getsockname(fds[0], (struct sockaddr *)&got, &gl) || gl != len[1 - i] || memcmp(&got, &a[1 - i], gl))
      RT_FAIL("l%d's queue holds a socket named '%s', want '%s'", i, got.sun_path + 1, a[1 - i].sun_path + 1);
  }
  rt_pass();
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (!strcmp(rt_mode, "loop")) loop();
  int d[2], s[2], p[2], q[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, d) || socketpair(AF_UNIX, SOCK_STREAM, 0, s) || pipe(p) || pipe(q)) RT_FAIL("setup");
  char path[512];
  snprintf(path, sizeof path, "%s/f", argv[2]);
  int f = open(path, O_RDWR | O_CREAT, 0600);
  if (f < 0 || write(f, "0123456789", 10) != 10 || lseek(f, 3, SEEK_SET) != 3) RT_FAIL("file");
  if (write(p[1], "hello", 5) != 5) RT_FAIL("pipe");
  int e = eventfd(7, 0);
  send_fds(d[0], "pipe-r", 1, &p[0]);
  send_fds(d[0], "file", 1, &f);
  send_fds(d[0], "held", 1, &p[1]);
  int two[2] = { q[0], e };
  send_fds(s[0], "two", 2, two);
  close(p[0]); close(f); close(q[0]); close(e);
  int w = p[1];
  rt_ready("d1=%d s1=%d w=%d\n", d[1], s[1], w);
  rt_wait_term();

  int fds[4];
  char b[16] = { 0 };
  if (recv_fds(d[1], "pipe-r", fds) != 1) RT_FAIL("pipe-r: not one descriptor");
  int pr = fds[0];
  if (read(pr, b, 5) != 5 || memcmp(b, "hello", 5)) RT_FAIL("the pipe in flight holds '%s', want 'hello'", b);
  if (recv_fds(d[1], "file", fds) != 1) RT_FAIL("file: not one descriptor");
  struct stat st1, st2;
  if (stat(path, &st1) || fstat(fds[0], &st2) || st1.st_ino != st2.st_ino) RT_FAIL("the file in flight is not %s", path);
  if (lseek(fds[0], 0, SEEK_CUR) != 3) RT_FAIL("the file in flight is at offset %ld, want 3", (long)lseek(fds[0], 0, SEEK_CUR));
  if ((fcntl(fds[0], F_GETFL) & O_ACCMODE) != O_RDWR) RT_FAIL("the file in flight is not O_RDWR");
  if (recv_fds(d[1], "held", fds) != 1) RT_FAIL("held: not one descriptor");
  /* The same open file as fd w: writing through it reaches the pipe's read end. */
  if (write(fds[0], "x", 1) != 1 || read(pr, b, 1) != 1 || b[0] != 'x') RT_FAIL("the write end in flight is not pipe p's");
  if (fcntl(w, F_SETFL, O_NONBLOCK) || !(fcntl(fds[0], F_GETFL) & O_NONBLOCK)) RT_FAIL("the write end in flight is another open file than fd %d", w);
  if (recv_fds(s[1], "two", fds) != 2) RT_FAIL("two: not two descriptors");
  if (write(q[1], "q", 1) != 1 || read(fds[0], b, 1) != 1 || b[0] != 'q') RT_FAIL("the first of two is not pipe q's read end");
  uint64_t v = 0;
  if (read(fds[1], &v, 8) != 8 || v != 7) RT_FAIL("the eventfd in flight counts %llu, want 7", (unsigned long long)v);
  rt_pass();
}
