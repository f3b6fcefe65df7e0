/* rt-pty: a pty pair held inside the dumped tree.
 * The root opens /dev/ptmx and its slave, puts the slave in raw mode with a few special chars and
 * a window size, marks the slave exclusive, and queues bytes both ways. Its child becomes a
 * session leader with the slave as controlling terminal and makes its own child (another process
 * group) the foreground group. On SIGTERM the root checks termios, window size, the exclusive
 * flag, that master and slave are still one pair (ptsname, data both ways, the queued bytes
 * first), and through the master that the pty controls the child's session with the grandchild
 * in front (and the child's /proc stat names it as its terminal). */
#include "rt.h"
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>

#define M2S "master-to-slave queued"
#define S2M "slave-to-master queued"

static struct termios want;
static pid_t g_kid;

/* The child's session goes too on a failure (its SIGTERM handler collects the grandchild). */
static void stop_kid(void) {
  if (g_kid > 0) { kill(g_kid, SIGTERM); waitpid(g_kid, NULL, 0); g_kid = 0; }
}
#define FAIL(...) do { stop_kid(); RT_FAIL(__VA_ARGS__); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)
static const struct winsize want_ws = { .ws_row = 37, .ws_col = 101, .ws_xpixel = 5, .ws_ypixel = 7 };

static void read_exact(int fd, const char *what, const char *expect) {
  char buf[256];
  size_t n = strlen(expect), got = 0;
  for (int tries = 0; got < n && tries < 200; tries++) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r > 0) { got += r; continue; }
    if (r < 0 && errno != EAGAIN) FAIL("read %s: %s", what, strerror(errno));
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  buf[got] = 0;
  CHECK(got == n && memcmp(buf, expect, n) == 0, "%s: got '%s', want '%s'", what, buf, expect);
}

static void wait_term_then_reap(pid_t kid) {
  rt_wait_term();
  if (kid > 0) { kill(kid, SIGKILL); waitpid(kid, NULL, 0); }
  _exit(0);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (m < 0 || grantpt(m) || unlockpt(m)) RT_FAIL("posix_openpt: %s", strerror(errno));
  char name[64];
  if (ptsname_r(m, name, sizeof name)) RT_FAIL("ptsname: %s", strerror(errno));
  int s = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK);
  if (s < 0) RT_FAIL("open %s: %s", name, strerror(errno));
  tcgetattr(s, &want);
  cfmakeraw(&want);
  want.c_iflag |= IXANY;
  want.c_cflag |= CLOCAL;
  want.c_cc[VMIN] = 1;
  want.c_cc[VTIME] = 3;
  want.c_cc[VINTR] = 0x07;
  want.c_cc[VKILL] = 0x0b;
  if (tcsetattr(s, TCSANOW, &want)) RT_FAIL("tcsetattr: %s", strerror(errno));
  if (ioctl(m, TIOCSWINSZ, &want_ws)) RT_FAIL("TIOCSWINSZ: %s", strerror(errno));
  if (ioctl(s, TIOCEXCL)) RT_FAIL("TIOCEXCL: %s", strerror(errno));

  int p[2];
  if (pipe(p)) RT_FAIL("pipe");
  pid_t kid = fork();
  if (kid == 0) {
    close(p[0]);
    rt_term_handler(0);
    if (setsid() < 0 || ioctl(s, TIOCSCTTY, 0)) _exit(5);
    pid_t gc = fork();
    if (gc == 0) {
      setpgid(0, 0);
      for (;;) pause();
    }
    setpgid(gc, gc);
    if (tcsetpgrp(s, gc)) _exit(6);
    if (write(p[1], &gc, sizeof gc) != sizeof gc) _exit(7);
    close(p[1]);
    wait_term_then_reap(gc);
  }
  close(p[1]);
  g_kid = kid;
  pid_t gc = 0;
  if (read(p[0], &gc, sizeof gc) != sizeof gc) FAIL("child %d did not set up its session", kid);
  close(p[0]);
  if (write(m, M2S, strlen(M2S)) != (ssize_t)strlen(M2S)) FAIL("write master");
  if (write(s, S2M, strlen(S2M)) != (ssize_t)strlen(S2M)) FAIL("write slave");
  rt_ready("kid=%d gc=%d tty=%s\n", kid, gc, name);
  rt_wait_term();

  struct termios t;
  if (tcgetattr(s, &t)) FAIL("tcgetattr: %s", strerror(errno));
  CHECK(t.c_iflag == want.c_iflag && t.c_oflag == want.c_oflag && t.c_cflag == want.c_cflag && t.c_lflag == want.c_lflag,
           "termios flags i%o o%o c%o l%o, want i%o o%o c%o l%o", t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag,
           want.c_iflag, want.c_oflag, want.c_cflag, want.c_lflag);
  for (int i = 0; i < NCCS && i < 19; i++) CHECK(t.c_cc[i] == want.c_cc[i], "c_cc[%d] = %d, want %d", i, t.c_cc[i], want.c_cc[i]);
  struct winsize ws;
  if (ioctl(s, TIOCGWINSZ, &ws)) FAIL("TIOCGWINSZ: %s", strerror(errno));
  CHECK(ws.ws_row == want_ws.ws_row && ws.ws_col == want_ws.ws_col && ws.ws_xpixel == want_ws.ws_xpixel && ws.ws_ypixel == want_ws.ws_ypixel,
           "window %dx%d (%dx%d px), want %dx%d (%dx%d px)", ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel,
           want_ws.ws_row, want_ws.ws_col, want_ws.ws_xpixel, want_ws.ws_ypixel);
  int excl = 0;
  CHECK(ioctl(s, TIOCGEXCL, &excl) == 0 && excl == 1, "the slave is not exclusive any more");

  /* One pair: the slave descriptor is the master's peer, and bytes flow both ways. */
  char now[64];
  if (ptsname_r(m, now, sizeof now)) FAIL("ptsname after restore: %s", strerror(errno));
  char link[64], path[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", s);
  ssize_t n = readlink(link, path, sizeof path - 1);
  CHECK(n > 0, "readlink %s", link);
  path[n] = 0;
  CHECK(strcmp(path, now) == 0, "slave fd is %s but the master's peer is %s", path, now);
  read_exact(s, "queued bytes on the slave", M2S);
  read_exact(m, "queued bytes on the master", S2M);
  if (write(m, "ping", 4) != 4) FAIL("write master after restore: %s", strerror(errno));
  read_exact(s, "slave after restore", "ping");
  if (write(s, "pong", 4) != 4) FAIL("write slave after restore: %s", strerror(errno));
  read_exact(m, "master after restore", "pong");

  /* The child's session owns it, the grandchild's group in front. */
  pid_t sid = 0, pgrp = 0;
  CHECK(ioctl(m, TIOCGSID, &sid) == 0 && sid == kid, "pty session %d, want %d (%s)", sid, kid, strerror(errno));
  CHECK(ioctl(m, TIOCGPGRP, &pgrp) == 0 && pgrp == gc, "foreground group %d, want %d", pgrp, gc);
  struct stat st;
  fstat(s, &st);
  char sp[64], sb[1024];
  snprintf(sp, sizeof sp, "/proc/%d/stat", kid);
  int sf = open(sp, O_RDONLY);
  n = sf < 0 ? -1 : read(sf, sb, sizeof sb - 1);
  CHECK(n > 0, "read %s", sp);
  sb[n] = 0;
  int ttynr = 0;
  char *rp = strrchr(sb, ')');
  CHECK(rp && sscanf(rp + 2, "%*c %*d %*d %*d %d", &ttynr) == 1, "parse %s", sp);
  unsigned want_nr = (minor(st.st_rdev) & 0xff) | (major(st.st_rdev) << 8) | ((minor(st.st_rdev) & ~0xffu) << 12);
  CHECK((unsigned)ttynr == want_nr, "child's controlling tty is %#x, want %#x (%s)", ttynr, want_nr, path);

  g_kid = 0;
  kill(kid, SIGTERM);
  int status;
  CHECK(waitpid(kid, &status, 0) == kid && WIFEXITED(status) && WEXITSTATUS(status) == 0, "child ended with status %#x", status);
  rt_pass();
}
