/* rt-unix-tree: unix sockets shared by a parent and its child, checked after a round trip.
 * usage: rt-unix-tree OUTFILE DIR
 *   sp  STREAM socketpair: the parent keeps sp0 ("c-to-p" queued), the child sp1 ("p-to-c" queued)
 *   dp  DGRAM socketpair: the parent keeps dp0, the child dp1 (datagrams "one", "two-2" queued)
 *   l   the parent's STREAM listener on DIR/tree.sock; s its accepted end of the child's client c
 *       ("hello-from-child" queued at s, "hi-child" at c)
 * On SIGTERM the parent checks its ends and sends SIGTERM to the child, which checks its own, writes
 * "late" on sp1 and exits; the parent then reads "late" and checks the child's exit status. */
#include "rt.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static void put(int fd, const char *s) {
  if (send(fd, s, strlen(s), MSG_DONTWAIT) != (ssize_t)strlen(s)) RT_FAIL("send %s: %s", s, strerror(errno));
}
static void get(int fd, const char *what, const char *want, int flags) {
  char b[256];
  ssize_t n = recv(fd, b, sizeof b - 1, flags);
  if (n < 0) RT_FAIL("%s: %s, want '%s'", what, strerror(errno), want);
  b[n] = 0;
  if (strcmp(b, want)) RT_FAIL("%s got '%s', want '%s'", what, b, want);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  snprintf(a.sun_path, sizeof a.sun_path, "%s/tree.sock", argv[2]);
  int sp[2], dp[2], sync[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dp) || pipe(sync)) RT_FAIL("socketpair");
  int l = socket(AF_UNIX, SOCK_STREAM, 0);
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 4)) RT_FAIL("listen: %s", strerror(errno));
  put(sp[0], "p-to-c");
  put(dp[0], "one");
  put(dp[0], "two-2");
  pid_t child = fork();
  if (child < 0) RT_FAIL("fork");
  if (child == 0) {
    close(sp[0]); close(dp[0]); close(l); close(sync[0]);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a)) RT_FAIL("child connect: %s", strerror(errno));
    put(c, "hello-from-child");
    put(sp[1], "c-to-p");
    if (write(sync[1], "r", 1) != 1) _exit(2);
    close(sync[1]);
    rt_wait_term();
    get(sp[1], "child stream", "p-to-c", MSG_DONTWAIT);
    get(dp[1], "child dgram 1", "one", MSG_DONTWAIT);
    get(dp[1], "child dgram 2", "two-2", MSG_DONTWAIT);
    get(c, "child client", "hi-child", MSG_DONTWAIT);
    put(sp[1], "late");
    _exit(0);
  }
  close(sp[1]); close(dp[1]); close(sync[1]);
  char r;
  if (read(sync[0], &r, 1) != 1) RT_FAIL("child not ready");
  close(sync[0]);
  int s = accept(l, NULL, NULL);
  if (s < 0) RT_FAIL("accept");
  put(s, "hi-child");
  rt_ready("child=%d sp0=%d dp0=%d l=%d s=%d\n", (int)child, sp[0], dp[0], l, s);
  rt_wait_term();
  get(sp[0], "parent stream", "c-to-p", MSG_DONTWAIT);
  get(s, "accepted end", "hello-from-child", MSG_DONTWAIT);
  kill(child, SIGTERM);
  int st;
  if (waitpid(child, &st, 0) != child) RT_FAIL("waitpid: %s", strerror(errno));
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) RT_FAIL("child failed (status 0x%x)", st);
  get(sp[0], "parent stream after", "late", 0);
  rt_pass();
}
