/* rt-restart: a task stopped inside a system call resumes as CRIU's would.
 * usage: rt-restart OUTFILE DIR nanosleep|read
 * SIGTERM's handler has no SA_RESTART.
 * nanosleep: sleeps 30 s; the dump interrupts it (ERESTART_RESTARTBLOCK, whose restart block
 *   does not survive a dump): after restore it must return -1/EINTR at once, before SIGTERM,
 *   with the remaining time (0 < rem <= 30 s) written, as under CRIU.
 * read: reads a pipe whose both ends it holds (read end fd 15, write end fd 16); the dump
 *   interrupts it (ERESTARTSYS): after restore the read goes on transparently and returns the
 *   bytes the test writes into /proc/PID/fd/16, before SIGTERM.
 * Once the call returns, the program makes DIR/returned: the test sends SIGTERM only after that.
 * READY syscall=NR */
#include "rt.h"

static void returned(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/returned", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (strcmp(rt_mode, "nanosleep") == 0) {
    rt_ready("syscall=%d\n", SYS_nanosleep);
    struct timespec req = { 30, 0 }, rem = { -1, -1 };
    int r = (int)syscall(SYS_nanosleep, &req, &rem); /* glibc would use clock_nanosleep */
    int err = errno, term = rt_term;
    returned(argv[2]);
    rt_wait_term();
    RT_CHECK(!(r == 0 && !term), "nanosleep returned 0 before SIGTERM (slept all 30 s?)");
    RT_CHECK(r == -1 && err == EINTR, "nanosleep returned %d (%s)", r, strerror(err));
    RT_CHECK(!term, "nanosleep ran on until SIGTERM instead of returning EINTR after restore");
    RT_CHECK(rem.tv_sec >= 0 && rem.tv_sec <= 30 && rem.tv_nsec >= 0 && (rem.tv_sec > 0 || rem.tv_nsec > 0) && !(rem.tv_sec == 30 && rem.tv_nsec > 0),
             "remaining time %ld.%09ld s, want 0 < rem <= 30 s", (long)rem.tv_sec, rem.tv_nsec);
  } else if (strcmp(rt_mode, "read") == 0) {
    int p[2];
    if (pipe(p) || dup2(p[0], 15) != 15 || dup2(p[1], 16) != 16) RT_FAIL("pipe");
    close(p[0]); close(p[1]);
    rt_ready("syscall=%d\n", SYS_read);
    char buf[16] = { 0 };
    ssize_t r = read(15, buf, sizeof buf - 1);
    int err = errno, term = rt_term;
    returned(argv[2]);
    rt_wait_term();
    RT_CHECK(r >= 0, "read returned -1 (%s)%s", strerror(err), term ? "" : " before SIGTERM");
    RT_CHECK(!term, "read returned only after SIGTERM");
    RT_CHECK(r == 5 && memcmp(buf, "hello", 5) == 0, "read returned %zd bytes '%s', want 'hello'", r, buf);
  } else {
    RT_FAIL("unknown mode '%s'", rt_mode);
  }
  rt_pass();
}
