/* rt-proc-dead: /proc files of processes that have died come back as such.
 * usage: rt-proc-dead OUTFILE DIR
 * The program forks two children, opens /proc/A/status (fd pfd) and changes its working directory
 * to /proc/B, then kills and collects both: it holds a descriptor of a dead process's /proc file
 * and works in a dead process's /proc directory (zdtm's remap_dead_pid, unhashed_proc).
 * READY a= b= pfd= ; on SIGTERM checks that the descriptor and the working directory name what
 * they named (the kernel's links), that reading the file still fails as it did, that getcwd
 * still fails with ENOENT, and that no process A or B exists. */
#include "rt.h"
#include <sys/wait.h>

static pid_t child(void) {
  pid_t p = fork();
  if (p < 0) RT_FAIL("fork: %s", strerror(errno));
  if (p == 0) for (;;) pause();
  return p;
}

static void link_of(const char *path, char *out, size_t len) {
  ssize_t n = readlink(path, out, len - 1);
  if (n < 0) RT_FAIL("readlink %s: %s", path, strerror(errno));
  out[n] = 0;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  pid_t a = child(), b = child();
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/status", (int)a);
  int pfd = open(path, O_RDONLY);
  snprintf(path, sizeof path, "/proc/%d", (int)b);
  int cd = chdir(path);
  kill(a, SIGKILL);
  kill(b, SIGKILL);
  waitpid(a, NULL, 0);
  waitpid(b, NULL, 0);
  RT_CHECK(pfd >= 0 && cd == 0, "open or chdir: %s", strerror(errno));
  char fdlink[64], link0[256], cwd0[256], buf[256];
  snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", pfd);
  link_of(fdlink, link0, sizeof link0);
  link_of("/proc/self/cwd", cwd0, sizeof cwd0);
  errno = 0;
  ssize_t r0 = pread(pfd, buf, sizeof buf, 0);
  int err0 = errno;

  rt_ready("a=%d b=%d pfd=%d\n", (int)a, (int)b, pfd);
  rt_wait_term();

  char now[256];
  RT_CHECK(fcntl(pfd, F_GETFD) >= 0, "fd %d is not open: %s", pfd, strerror(errno));
  link_of(fdlink, now, sizeof now);
  RT_CHECK(strcmp(now, link0) == 0, "fd %d is %s, was %s", pfd, now, link0);
  link_of("/proc/self/cwd", now, sizeof now);
  RT_CHECK(strcmp(now, cwd0) == 0, "the working directory is %s, was %s", now, cwd0);
  errno = 0;
  ssize_t r = pread(pfd, buf, sizeof buf, 0);
  RT_CHECK(r == r0 && errno == err0, "reading fd %d gives %zd (%s), gave %zd (%s)", pfd, r, strerror(errno), r0, strerror(err0));
  char *g = getcwd(buf, sizeof buf);
  RT_CHECK(g == NULL && errno == ENOENT, "getcwd gives %s", g ? g : strerror(errno));
  RT_CHECK(kill(a, 0) < 0 && kill(b, 0) < 0, "process %d or %d exists after restore", (int)a, (int)b);
  rt_pass();
}
