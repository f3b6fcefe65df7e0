/* rt-shell-job: a job on a terminal outside the dumped tree (cryo dump/restore --shell-job).
 * usage: rt-shell-job OUTFILE DIR shell     a tiny "shell": allocates a pty, makes its slave its
 *                                            controlling terminal, starts DIR/job.txt's job in its
 *                                            own group in the foreground, READY job=PID tty=NAME;
 *                                            on SIGTERM it checks what the dump of its job may touch:
 *                                            the job was ended by SIGKILL (the dump's), the pty is
 *                                            still its controlling terminal, with the settings it had
 *        rt-shell-job JOBOUT DIR job         the job (stdio on the terminal); on SIGTERM it checks
 *                                            its stdio is one tty, its controlling terminal, with
 *                                            its group in front: "PASS tty=NAME" or "FAIL: ..."
 *        rt-shell-job LOG DIR run CMD ARG... runs CMD as a session leader on a new pty (stdio and
 *                                            controlling terminal), copies what the terminal shows
 *                                            to LOG after a first line "tty=NAME", exits as CMD did */
#include "rt.h"
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

static int open_pair(int *slave, char *name, size_t len) {
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  if (m < 0 || grantpt(m) || unlockpt(m) || ptsname_r(m, name, len)) return -1;
  *slave = open(name, O_RDWR | O_NOCTTY);
  return *slave < 0 ? -1 : m;
}

static void say(int fd, const char *fmt, ...) {
  char b[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, sizeof b, fmt, ap);
  va_end(ap);
  if (write(fd, b, n) != n) _exit(3);
}

static int job(char **argv) {
  syscall(SYS_close_range, 3, ~0U, 0);
  int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return 2;
  rt_term_handler(0);
  say(out, "READY tty=%s\n", ttyname(0));
  rt_wait_term();
  struct stat st[3];
  for (int i = 0; i < 3; i++) {
    if (!isatty(i) || fstat(i, &st[i])) { say(out, "FAIL: fd %d is not a terminal\n", i); return 1; }
    if (st[i].st_rdev != st[0].st_rdev) { say(out, "FAIL: fd %d is another terminal than fd 0\n", i); return 1; }
  }
  if (tcgetsid(0) != getsid(0)) { say(out, "FAIL: the terminal is not the controlling terminal of session %d (%s)\n", getsid(0), strerror(errno)); return 1; }
  int ctty = open("/dev/tty", O_RDWR | O_NOCTTY);
  if (ctty < 0) { say(out, "FAIL: no controlling terminal (/dev/tty: %s)\n", strerror(errno)); return 1; }
  close(ctty); /* (its fstat names /dev/tty itself: tcgetsid above proved fd 0 is the one) */
  if (tcgetpgrp(0) != getpgrp()) { say(out, "FAIL: foreground group %d, the job is group %d\n", tcgetpgrp(0), getpgrp()); return 1; }
  if (write(1, "job: hello\r\n", 12) != 12) { say(out, "FAIL: write to the terminal: %s\n", strerror(errno)); return 1; }
  say(out, "PASS tty=%s\n", ttyname(0));
  return 0;
}

static int shell(int argc, char **argv) {
  rt_start(argc, argv);
  char name[64], jobout[4096];
  int s, m = open_pair(&s, name, sizeof name);
  if (m < 0) RT_FAIL("pty: %s", strerror(errno));
  if (ioctl(s, TIOCSCTTY, 0)) RT_FAIL("TIOCSCTTY: %s", strerror(errno));
  snprintf(jobout, sizeof jobout, "%s/job.txt", argv[2]);
  pid_t kid = fork();
  if (kid == 0) {
    setpgid(0, 0);
    dup2(s, 0); dup2(s, 1); dup2(s, 2);
    execl("/proc/self/exe", "rt-shell-job", jobout, argv[2], "job", (char *)NULL);
    _exit(127);
  }
  setpgid(kid, kid);
  if (tcsetpgrp(s, kid)) RT_FAIL("tcsetpgrp: %s", strerror(errno));
  struct termios before, after;
  if (tcgetattr(s, &before)) RT_FAIL("tcgetattr: %s", strerror(errno));
  fcntl(m, F_SETFL, O_NONBLOCK);
  char buf[256];
  for (int i = 0; i < 500; i++) {
    int f = open(jobout, O_RDONLY);
    ssize_t n = f < 0 ? 0 : read(f, buf, sizeof buf - 1);
    if (f >= 0) close(f);
    if (n > 0) break;
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  rt_ready("job=%d tty=%s\n", kid, name);
  int status = 0, ended = 0;
  while (!rt_term) {
    while (read(m, buf, sizeof buf) > 0) { /* what the job shows on its terminal */ }
    if (!ended && waitpid(kid, &status, WNOHANG) == kid) ended = 1;
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  if (!ended && waitpid(kid, &status, WNOHANG) == kid) ended = 1;
  if (!ended) {
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    RT_FAIL("the job %d was still running: nothing ended it", kid);
  }
  RT_CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the job ended with status %#x, not by SIGKILL", status);
  RT_CHECK(tcgetsid(s) == getsid(0), "the pty is no longer the controlling terminal of session %d", getsid(0));
  if (tcgetattr(s, &after)) RT_FAIL("tcgetattr: %s", strerror(errno));
  RT_CHECK(before.c_iflag == after.c_iflag && before.c_oflag == after.c_oflag && before.c_cflag == after.c_cflag &&
           before.c_lflag == after.c_lflag && memcmp(before.c_cc, after.c_cc, sizeof before.c_cc) == 0,
           "the terminal's settings changed (c_lflag %#x, was %#x)", after.c_lflag, before.c_lflag);
  rt_pass();
  return 0;
}

static int run(int argc, char **argv) {
  if (argc < 5) return 2;
  syscall(SYS_close_range, 3, ~0U, 0);
  int log = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  char name[64];
  int s, m = open_pair(&s, name, sizeof name);
  if (log < 0 || m < 0) return 2;
  say(log, "tty=%s\n", name);
  pid_t kid = fork();
  if (kid == 0) {
    if (setsid() < 0 || ioctl(s, TIOCSCTTY, 0)) _exit(126);
    dup2(s, 0); dup2(s, 1); dup2(s, 2);
    close(s); close(m); close(log);
    execv(argv[4], argv + 4);
    _exit(127);
  }
  close(s);
  char buf[4096];
  ssize_t n;
  /* Until every holder of the slave is gone (EIO). */
  while ((n = read(m, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) if (n > 0 && write(log, buf, n) != n) break;
  int status = 0;
  waitpid(kid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  if (strcmp(argv[3], "job") == 0) return job(argv);
  if (strcmp(argv[3], "run") == 0) return run(argc, argv);
  return shell(argc, argv);
}
