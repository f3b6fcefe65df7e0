/* rt-ctty: /dev/tty descriptors, in a session whose controlling terminal is a pty whose master
 * another process of the tree holds (as a terminal multiplexer and its shell).
 * usage: rt-ctty OUTFILE DIR
 * The root holds the master m. Its child makes a session, takes the slave as its controlling
 * terminal (then closes the slave: only /dev/tty is left, fd t) and opens /dev/tty a second time
 * (fd t2, O_NONBLOCK). It waits for a byte on pipe c. On SIGTERM the root sends it; the child
 * writes "via /dev/tty" through t, reads through t2 what the root types on the master, and
 * reports through pipe r whether t and t2 are still its terminal (TIOCGSID is its session, its
 * group is in front, t2 is non-blocking) and what it read. The root checks the bytes on the
 * master and the report. */
#include "rt.h"
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

static pid_t kid;
#define FAIL(...) do { if (kid > 0) { kill(kid, SIGKILL); waitpid(kid, NULL, 0); } RT_FAIL(__VA_ARGS__); } while (0)

static void child(int t, int t2, int c, int r) {
  char b;
  while (read(c, &b, 1) != 1) if (errno != EINTR) _exit(1);
  char rep[512];
  pid_t sid = -1, pg = -1;
  ioctl(t, TIOCGSID, &sid);
  ioctl(t2, TIOCGPGRP, &pg);
  int fl = fcntl(t2, F_GETFL);
  ssize_t w = write(t, "via /dev/tty\n", 13);
  char in[64] = { 0 };
  ssize_t n = -1;
  for (int i = 0; i < 400 && n <= 0; i++) {
    n = read(t2, in, sizeof in - 1);
    if (n <= 0) { struct timespec ts = { 0, 5 * 1000 * 1000 }; nanosleep(&ts, NULL); }
  }
  if (n > 0 && in[n - 1] == '\n') in[n - 1] = 0;
  int len = snprintf(rep, sizeof rep, "sid=%d/%d pgrp=%d/%d nonblock=%d wrote=%zd read=%s",
    sid, getsid(0), pg, getpgrp(), (fl & O_NONBLOCK) != 0, w, n > 0 ? in : "(nothing)");
  if (write(r, rep, len) != len) _exit(1);
  _exit(0);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char name[64];
  int m = rt_open_pty(name, sizeof name);
  int c[2], r[2], ok[2];
  if (pipe(c) || pipe(r) || pipe(ok)) RT_FAIL("pipe");
  kid = fork();
  if (kid < 0) RT_FAIL("fork");
  if (kid == 0) {
    close(m); close(c[1]); close(r[0]); close(ok[0]);
    signal(SIGTERM, SIG_IGN);
    int s = rt_take_ctty(name);
    if (s < 0) _exit(1);
    int t = open("/dev/tty", O_RDWR);
    int t2 = open("/dev/tty", O_RDWR | O_NONBLOCK);
    if (t < 0 || t2 < 0) _exit(1);
    close(s);
    if (write(ok[1], "k", 1) != 1) _exit(1);
    close(ok[1]);
    child(t, t2, c[0], r[1]);
  }
  close(c[0]); close(r[1]); close(ok[1]);
  char b;
  if (read(ok[0], &b, 1) != 1) FAIL("the child did not set up its terminal");
  close(ok[0]);
  rt_ready("kid=%d tty=%s\n", kid, name);
  rt_wait_term();

  if (write(m, "typed on the master\n", 20) != 20) FAIL("write to the master: %s", strerror(errno));
  if (write(c[1], "g", 1) != 1) FAIL("the child's command pipe: %s", strerror(errno));
  char rep[512] = { 0 };
  ssize_t n = read(r[0], rep, sizeof rep - 1);
  int st;
  pid_t ks = kid;
  waitpid(kid, &st, 0);
  kid = 0;
  if (n <= 0) RT_FAIL("no report from the child (status 0x%x)", st);
  char want[256];
  snprintf(want, sizeof want, "sid=%d/%d pgrp=%d/%d nonblock=1 wrote=13 read=typed on the master", ks, ks, ks, ks);
  if (strcmp(rep, want)) RT_FAIL("the child says '%s', want '%s'", rep, want);
  /* The terminal echoes what was typed and shows what the child wrote through /dev/tty; the echo
   * comes from the line discipline's own work, so either may come first. */
  char out[256];
  const char *expect = "typed on the master\r\nvia /dev/tty\r\n";
  const char *other = "via /dev/tty\r\ntyped on the master\r\n";
  rt_read_master(m, out, sizeof out, strlen(expect));
  if (strcmp(out, expect) && strcmp(out, other)) RT_FAIL("the master read '%s'", out);
  rt_pass();
}
