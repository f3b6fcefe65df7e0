/* rt-lease: file leases (F_SETLEASE) come back.
 * usage: rt-lease OUTFILE DIR
 * DIR/r is open read-only with a read lease, DIR/w read-write with a write lease. On SIGTERM:
 * F_GETLEASE says F_RDLCK and F_WRLCK, and the kernel enforces the write lease: a child's
 * non-blocking open of DIR/w fails with EWOULDBLOCK (that starts a lease break: SIGIO is ignored). */
#include "rt.h"
#include <sys/wait.h>

int main(int argc, char **argv) {
  rt_start(argc, argv);
  signal(SIGIO, SIG_IGN);
  char rp[4096], wp[4096];
  snprintf(rp, sizeof rp, "%s/r", argv[2]);
  snprintf(wp, sizeof wp, "%s/w", argv[2]);
  int c = open(rp, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (c < 0 || write(c, "read me\n", 8) != 8) RT_FAIL("create %s: %s", rp, strerror(errno));
  close(c);
  int r = open(rp, O_RDONLY);
  int w = open(wp, O_CREAT | O_RDWR | O_TRUNC, 0600);
  if (r < 0 || w < 0) RT_FAIL("open: %s", strerror(errno));
  if (fcntl(r, F_SETLEASE, F_RDLCK)) RT_FAIL("read lease: %s", strerror(errno));
  if (fcntl(w, F_SETLEASE, F_WRLCK)) RT_FAIL("write lease: %s", strerror(errno));
  rt_ready("r=%d w=%d\n", r, w);
  rt_wait_term();
  int lr = fcntl(r, F_GETLEASE), lw = fcntl(w, F_GETLEASE);
  if (lr != F_RDLCK || lw != F_WRLCK) RT_FAIL("leases %d %d, want F_RDLCK %d and F_WRLCK %d", lr, lw, F_RDLCK, F_WRLCK);
  pid_t k = fork();
  if (k == 0) {
    int f = open(wp, O_RDONLY | O_NONBLOCK);
    _exit(f < 0 && errno == EWOULDBLOCK ? 0 : 1);
  }
  int st;
  if (k < 0 || waitpid(k, &st, 0) != k || !WIFEXITED(st) || WEXITSTATUS(st) != 0) RT_FAIL("another open of %s did not meet the write lease", wp);
  rt_pass();
}
