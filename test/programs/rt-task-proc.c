/* rt-task-proc: what /proc/PID shows of a process that no system call sets back.
 * usage: rt-task-proc OUTFILE DIR
 * oom_score_adj is raised to 400 and the audit login uid set to 4321 (both before READY).
 * On SIGTERM both read back the same. */
#include "rt.h"

static int read_int(const char *file, long long *v) {
  char b[64];
  int fd = open(file, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof b - 1);
  if (fd >= 0) close(fd);
  if (n <= 0) return -1;
  b[n] = 0;
  *v = strtoll(b, NULL, 10);
  return 0;
}

static void write_str(const char *file, const char *s) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s)) RT_FAIL("write %s to %s: %s", s, file, strerror(errno));
  close(fd);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  write_str("/proc/self/oom_score_adj", "400");
  write_str("/proc/self/loginuid", "4321");
  rt_ready("\n");
  rt_wait_term();
  long long oom, login;
  if (read_int("/proc/self/oom_score_adj", &oom) || read_int("/proc/self/loginuid", &login)) RT_FAIL("read /proc/self");
  if (oom != 400) RT_FAIL("oom_score_adj %lld, want 400", oom);
  if (login != 4321) RT_FAIL("loginuid %lld, want 4321", login);
  rt_pass();
}
