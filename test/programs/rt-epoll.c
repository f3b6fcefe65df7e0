/* rt-epoll: an epoll set whose watched files moved since they were added, checked after a round trip.
 * usage: rt-epoll OUTFILE DIR
 * The kernel keys a watch by (file, number it was added with); here the numbers lie:
 *   A1  pipe a's read end, added as fd a0, then dup'd to na and a0 closed (a0 stays free)
 *   B1  eventfd e1 added as fd x, then dup'd to y and x closed;
 *   B2  a second eventfd e2 opened at x and added as x too (two watches numbered x)
 *   C1  pipe c's read end, added as fd c0, then held only by the child (at fd 40); the parent's
 *       c0 is /dev/null now (close-on-exec)
 * The child closes its copy of the epoll. On SIGTERM the parent checks the watch list in fdinfo,
 * that nothing is ready, then makes each file ready in turn and checks which watch reports it,
 * removes (e2, x) by number, and lets the child check its pipe end. */
#include "rt.h"
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

static int ep;

/* The one watch that is ready now (its data), 0 for none; fails on more than one. */
static unsigned long long ready(const char *what) {
  struct epoll_event ev[8];
  int n = epoll_wait(ep, ev, 8, 0);
  if (n < 0) RT_FAIL("%s: epoll_wait: %s", what, strerror(errno));
  if (n > 1) RT_FAIL("%s: %d watches ready (0x%llx, 0x%llx), want one", what, n, (unsigned long long)ev[0].data.u64, (unsigned long long)ev[1].data.u64);
  return n == 0 ? 0 : ev[0].data.u64;
}

static int cmp(const void *p, const void *q) { return strcmp(*(char *const *)p, *(char *const *)q); }

/* fdinfo's watch list as sorted "tfd:data" words, e.g. "5:a1,7:b1,7:b2,". */
static void watches(char *out, size_t size) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/self/fdinfo/%d", ep);
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (n < 0) RT_FAIL("read %s", path);
  close(fd);
  buf[n] = 0;
  char words[16][32], *w[16];
  int k = 0;
  for (char *l = strstr(buf, "tfd:"); l && k < 16; l = strstr(l + 1, "tfd:"), k++) {
    int tfd;
    unsigned long long data;
    if (sscanf(l, "tfd: %d events: %*x data: %llx", &tfd, &data) != 2) RT_FAIL("fdinfo line: %.60s", l);
    snprintf(words[k], sizeof words[k], "%d:%llx,", tfd, data);
    w[k] = words[k];
  }
  qsort(w, k, sizeof w[0], cmp);
  out[0] = 0;
  for (int i = 0; i < k; i++) strncat(out, w[i], size - strlen(out) - 1);
}

static void add(int fd, unsigned long long data) {
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) RT_FAIL("epoll add %d: %s", fd, strerror(errno));
}

static void bump(int fd, uint64_t v) {
  if (write(fd, &v, 8) != 8) RT_FAIL("eventfd write: %s", strerror(errno));
}

static uint64_t take(int fd) {
  uint64_t v = 0;
  if (read(fd, &v, 8) != 8) RT_FAIL("eventfd read: %s", strerror(errno));
  return v;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  ep = epoll_create1(0);
  int a[2], c[2], sync[2];
  if (ep < 0 || pipe(a) || pipe(c) || pipe(sync)) RT_FAIL("setup: %s", strerror(errno));
  add(a[0], 0xA1);
  int na = dup(a[0]);
  int a0 = a[0];
  int x = eventfd(0, EFD_NONBLOCK);
  add(x, 0xB1);
  int y = dup(x);
  close(x);
  if (eventfd(0, EFD_NONBLOCK) != x) RT_FAIL("e2 did not get fd %d", x);
  add(x, 0xB2);
  add(c[0], 0xC1);
  int c0 = c[0];
  pid_t child = fork();
  if (child < 0) RT_FAIL("fork");
  if (child == 0) {
    close(ep); close(c[1]); close(sync[0]); close(a[1]); close(na); close(x); close(y);
    if (dup2(c0, 40) != 40) _exit(2);
    close(c0);
    if (write(sync[1], "r", 1) != 1) _exit(2);
    close(sync[1]);
    rt_wait_term();
    char b = 0;
    if (read(40, &b, 1) != 1 || b != 'c') {
      rt_say("FAIL: child read '%c' from its pipe end\n", b);
      _exit(1);
    }
    _exit(0);
  }
  close(c0);
  if (open("/dev/null", O_RDONLY | O_CLOEXEC) != c0) RT_FAIL("/dev/null did not get fd %d", c0);
  close(a0);
  close(sync[1]);
  char r;
  if (read(sync[0], &r, 1) != 1) RT_FAIL("child not ready");
  close(sync[0]);
  char before[256];
  watches(before, sizeof before);
  rt_ready("child=%d ep=%d a0=%d x=%d c0=%d watches=%s\n", (int)child, ep, a0, x, c0, before);
  rt_wait_term();

  char after[256];
  watches(after, sizeof after);
  if (strcmp(before, after)) RT_FAIL("watches '%s', want '%s'", after, before);
  if (fcntl(a0, F_GETFD) != -1 || errno != EBADF) RT_FAIL("fd %d is open, want it closed", a0);
  struct stat st;
  if (fstat(c0, &st) || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) RT_FAIL("fd %d is not /dev/null", c0);
  if (fcntl(c0, F_GETFD) != FD_CLOEXEC) RT_FAIL("fd %d lost close-on-exec", c0);
  unsigned long long got = ready("before");
  if (got) RT_FAIL("watch 0x%llx ready before anything was written", got);

  bump(x, 5);
  if ((got = ready("eventfd at x")) != 0xB2) RT_FAIL("eventfd at fd %d reported as 0x%llx, want 0xb2", x, got);
  if (take(x) != 5) RT_FAIL("eventfd at fd %d lost its count", x);
  bump(y, 7);
  if ((got = ready("eventfd at y")) != 0xB1) RT_FAIL("eventfd at fd %d reported as 0x%llx, want 0xb1", y, got);
  if (take(y) != 7) RT_FAIL("eventfd at fd %d lost its count", y);
  if (write(a[1], "a", 1) != 1) RT_FAIL("write a");
  if ((got = ready("pipe a")) != 0xA1) RT_FAIL("pipe a reported as 0x%llx, want 0xa1", got);
  if (read(na, &r, 1) != 1 || r != 'a') RT_FAIL("pipe a's read end at fd %d", na);
  if (write(c[1], "c", 1) != 1) RT_FAIL("write c");
  if ((got = ready("pipe c")) != 0xC1) RT_FAIL("pipe c (held by the child) reported as 0x%llx, want 0xc1", got);

  kill(child, SIGTERM);
  int ws;
  if (waitpid(child, &ws, 0) != child) RT_FAIL("waitpid: %s", strerror(errno));
  if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) RT_FAIL("child failed (status 0x%x)", ws);

  /* EPOLL_CTL_DEL by number finds (the file now at x, x): e2's watch, not e1's. */
  if (epoll_ctl(ep, EPOLL_CTL_DEL, x, NULL)) RT_FAIL("epoll del %d: %s", x, strerror(errno));
  bump(x, 1);
  bump(y, 1);
  if ((got = ready("after del")) != 0xB1) RT_FAIL("after removing (e2, %d): 0x%llx ready, want 0xb1", x, got);
  rt_pass();
}
