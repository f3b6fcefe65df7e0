/* rt-pty-hung: two slaves of a pty whose master was closed (hung up), checked after a round trip.
 * usage: rt-pty-hung OUTFILE DIR
 *   s1  the slave, opened first and made the controlling terminal (the program leads its session)
 *   s2  the slave opened again, O_NONBLOCK
 * then the master is closed: the kernel hangs both up (and SIGHUP, ignored, tells the leader).
 * On SIGTERM: both are still hung up (read gives 0, write and TCGETS give EIO), they are two open
 * files (O_NONBLOCK on s2 only), and the program has no controlling terminal.
 * MODE vhangup: the slaves are hung up by TIOCVHANGUP while the master stays open. */
#include "rt.h"
#include <termios.h>

static void hung(int fd, const char *what) {
  char c;
  struct termios t;
  if (ioctl(fd, TCGETS, &t) == 0) RT_FAIL("%s is not hung up: TCGETS works", what);
  if (errno != EIO) RT_FAIL("%s: TCGETS: %s, want EIO", what, strerror(errno));
  ssize_t n = read(fd, &c, 1);
  if (n != 0) RT_FAIL("%s: read gives %zd (%s), want 0", what, n, n < 0 ? strerror(errno) : "data");
  if (write(fd, "x", 1) != -1 || errno != EIO) RT_FAIL("%s: write does not give EIO", what);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char name[64];
  int m = rt_open_pty(name, sizeof name);
  int s1 = open(name, O_RDWR);
  int s2 = open(name, O_RDWR | O_NONBLOCK);
  if (s1 < 0 || s2 < 0) RT_FAIL("open %s: %s", name, strerror(errno));
  if (ioctl(s1, TIOCSCTTY, 1)) RT_FAIL("TIOCSCTTY: %s", strerror(errno));
  signal(SIGHUP, SIG_IGN);
  if (!strcmp(rt_mode, "vhangup")) {
    /* Hung up while the master stays open (which the dump refuses). */
    if (ioctl(s1, TIOCVHANGUP, 0)) RT_FAIL("TIOCVHANGUP: %s", strerror(errno));
    hung(s1, "s1");
    rt_ready("s1=%d s2=%d m=%d\n", s1, s2, m);
    rt_wait_term();
    hung(s2, "s2");
    rt_pass();
  }
  close(m);
  hung(s1, "s1");
  rt_ready("s1=%d s2=%d\n", s1, s2);
  rt_wait_term();
  hung(s1, "s1");
  hung(s2, "s2");
  if (fcntl(s1, F_GETFL) & O_NONBLOCK) RT_FAIL("s1 has O_NONBLOCK");
  if (!(fcntl(s2, F_GETFL) & O_NONBLOCK)) RT_FAIL("s2 lost O_NONBLOCK");
  if (open("/dev/tty", O_RDWR) >= 0) RT_FAIL("the program has a controlling terminal again");
  rt_pass();
}
