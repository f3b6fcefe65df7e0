/* rt-proc-files: descriptors of /proc files of processes of the tree, checked after a round trip.
 * usage: rt-proc-files OUTFILE DIR
 * The root forks c, then opens /proc/C/stat (fd cs) and its own /proc/ROOT/status (fd ss).
 * On SIGTERM each descriptor still reads that process's file: the PID in c's stat is c's and
 * the Pid: line of the status is the root's. */
#include "rt.h"
#include <sys/wait.h>

static pid_t c;
#define FAIL(...) do { kill(c, SIGKILL); waitpid(c, NULL, 0); RT_FAIL(__VA_ARGS__); } while (0)

static void readall(int fd, char *b, size_t n) {
  ssize_t r = pread(fd, b, n - 1, 0);
  if (r < 0) FAIL("read fd %d: %s", fd, strerror(errno));
  b[r] = 0;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  c = fork();
  if (c < 0) RT_FAIL("fork: %s", strerror(errno));
  if (c == 0) for (;;) pause();
  char path[64], b[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)c);
  int cs = open(path, O_RDONLY);
  snprintf(path, sizeof path, "/proc/%d/status", (int)getpid());
  int ss = open(path, O_RDONLY);
  if (cs < 0 || ss < 0) FAIL("open /proc files: %s", strerror(errno));
  rt_ready("c=%d cs=%d ss=%d\n", (int)c, cs, ss);
  rt_wait_term();

  readall(cs, b, sizeof b);
  if (atoi(b) != c) FAIL("fd cs reads the stat of process %d, want c (%d)", atoi(b), (int)c);
  readall(ss, b, sizeof b);
  char *pid = strstr(b, "\nPid:");
  if (!pid || atoi(pid + 5) != getpid()) FAIL("fd ss reads the status of process %d, want the root (%d)", pid ? atoi(pid + 5) : -1, (int)getpid());
  kill(c, SIGKILL);
  if (waitpid(c, NULL, 0) != c) RT_FAIL("waitpid c: %s", strerror(errno));
  rt_pass();
}
