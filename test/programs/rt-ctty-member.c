/* rt-ctty-member: a session member that is not its leader keeps the session's controlling
 * terminal (a pty whose master another process of the tree holds, as a shell's job under tmux).
 * usage: rt-ctty-member OUTFILE DIR
 * The root holds the master m. Its child L makes a session and takes the slave as its controlling
 * terminal, then forks the member M, which makes its own process group (a job) and keeps a slave
 * descriptor s; L waits for M. On SIGTERM the root sends a byte on pipe c; M opens /dev/tty, puts
 * its group in the foreground with tcsetpgrp (only a process whose controlling terminal this is
 * may), writes "member" through /dev/tty and reports through pipe r its session as the terminal
 * sees it, the foreground group, its tty_nr (/proc/self/stat) against the slave's device, and the
 * result of each call. The root checks the report and the bytes on the master. */
#include "rt.h"
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

static pid_t kid;
#define FAIL(...) do { if (kid > 0) { kill(-kid, SIGKILL); kill(kid, SIGKILL); waitpid(kid, NULL, 0); } RT_FAIL(__VA_ARGS__); } while (0)

/* tty_nr, field 7 of /proc/self/stat. */
static long tty_nr(void) {
  char b[1024] = { 0 };
  int f = open("/proc/self/stat", O_RDONLY);
  if (f < 0 || read(f, b, sizeof b - 1) <= 0) return -1;
  close(f);
  char *p = strrchr(b, ')');
  int pid_ = 0, pp, pg, sid;
  long tty = -1;
  char st;
  if (!p || sscanf(p + 2, "%c %d %d %d %ld", &st, &pp, &pg, &sid, &tty) != 5) return -1;
  (void)pid_;
  return tty;
}

static void member(int s, int c, int r) {
  char b;
  while (read(c, &b, 1) != 1) if (errno != EINTR) _exit(1);
  signal(SIGTTOU, SIG_IGN);
  int t = open("/dev/tty", O_RDWR);
  int topen = t >= 0 ? 0 : errno;
  pid_t sid = -1;
  if (t >= 0) ioctl(t, TIOCGSID, &sid);
  int set = tcsetpgrp(s, getpgrp()) == 0 ? 0 : errno;
  pid_t fg = tcgetpgrp(s);
  ssize_t w = t >= 0 ? write(t, "member\n", 7) : -1;
  struct stat st;
  fstat(s, &st);
  long want = (long)(minor(st.st_rdev) & 0xff) | ((long)major(st.st_rdev) << 8) | ((long)(minor(st.st_rdev) & ~0xffu) << 12);
  char rep[512];
  int len = snprintf(rep, sizeof rep, "open=%d sid=%d/%d tcsetpgrp=%d fg=%d/%d tty_nr=%s wrote=%zd",
    topen, sid, getsid(0), set, fg, getpgrp(), tty_nr() == want ? "same" : "other", w);
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
    close(m); close(r[0]); close(ok[0]); close(c[1]);
    signal(SIGTERM, SIG_IGN);
    int s = rt_take_ctty(name);
    if (s < 0) _exit(1);
    pid_t mem = fork();
    if (mem < 0) _exit(1);
    if (mem == 0) {
      if (setpgid(0, 0)) _exit(1);
      if (write(ok[1], "k", 1) != 1) _exit(1);
      close(ok[1]);
      member(s, c[0], r[1]);
    }
    close(s); close(ok[1]); close(c[0]); close(r[1]);
    int st;
    while (waitpid(mem, &st, 0) < 0) if (errno != EINTR) _exit(1);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
  }
  close(c[0]); close(r[1]); close(ok[1]);
  char b;
  if (read(ok[0], &b, 1) != 1) FAIL("the member did not start");
  close(ok[0]);
  rt_ready("kid=%d tty=%s\n", kid, name);
  rt_wait_term();

  if (write(c[1], "g", 1) != 1) FAIL("the member's command pipe: %s", strerror(errno));
  char rep[512] = { 0 };
  ssize_t n = read(r[0], rep, sizeof rep - 1);
  int st;
  pid_t ks = kid;
  waitpid(kid, &st, 0);
  kid = 0;
  if (n <= 0) RT_FAIL("no report from the member (status 0x%x)", st);
  /* The member's group is its own PID: the leader's PID + 1 is not assured, so only the shape is fixed. */
  char want[256];
  int pg = 0, pg2 = 0;
  if (sscanf(rep, "open=0 sid=%*d/%*d tcsetpgrp=0 fg=%d/%d", &pg, &pg2) != 2 || pg != pg2) RT_FAIL("the member says '%s'", rep);
  snprintf(want, sizeof want, "open=0 sid=%d/%d tcsetpgrp=0 fg=%d/%d tty_nr=same wrote=7", ks, ks, pg, pg);
  if (strcmp(rep, want)) RT_FAIL("the member says '%s', want '%s'", rep, want);
  char out[64];
  rt_read_master(m, out, sizeof out, 8);
  if (strcmp(out, "member\r\n")) RT_FAIL("the master read '%s'", out);
  rt_pass();
}
