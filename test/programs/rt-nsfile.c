/* rt-nsfile: descriptors of the program's own namespace files, checked after a round trip.
 * usage: rt-nsfile OUTFILE DIR [other]
 *   net  /proc/self/ns/net, O_RDONLY
 *   uts  /proc/self/ns/uts, O_RDONLY | O_CLOEXEC
 * On SIGTERM: each is still the namespace the program is in (same inode as its /proc/self/ns
 * file now, as zdtm's proc-self compares), and the close-on-exec flags are as they were.
 * MODE other: also a file of a UTS namespace the program is not in (a child made it, then died). */
#include "rt.h"
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void same(int fd, const char *path, const char *what) {
  struct stat a, b;
  if (fstat(fd, &a) || stat(path, &b)) RT_FAIL("%s: stat: %s", what, strerror(errno));
  if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) RT_FAIL("%s is namespace %lu, not the program's %lu", what, (unsigned long)a.st_ino, (unsigned long)b.st_ino);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int net = open("/proc/self/ns/net", O_RDONLY);
  int uts = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
  if (net < 0 || uts < 0) RT_FAIL("open ns: %s", strerror(errno));
  int other = -1;
  if (!strcmp(rt_mode, "other")) {
    int p[2];
    if (pipe(p)) RT_FAIL("pipe: %s", strerror(errno));
    pid_t kid = fork();
    if (kid == 0) {
      if (unshare(CLONE_NEWUTS)) _exit(1);
      if (write(p[1], "x", 1) != 1) _exit(1);
      pause();
      _exit(0);
    }
    char c;
    if (read(p[0], &c, 1) != 1) RT_FAIL("the child could not make a UTS namespace");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/uts", kid);
    other = open(path, O_RDONLY);
    if (other < 0) RT_FAIL("open %s: %s", path, strerror(errno));
    kill(kid, SIGKILL);
    waitpid(kid, NULL, 0);
    close(p[0]);
    close(p[1]);
  }
  rt_ready("net=%d uts=%d other=%d\n", net, uts, other);
  rt_wait_term();
  same(net, "/proc/self/ns/net", "net");
  same(uts, "/proc/self/ns/uts", "uts");
  if (fcntl(net, F_GETFD) & FD_CLOEXEC) RT_FAIL("net got FD_CLOEXEC");
  if (!(fcntl(uts, F_GETFD) & FD_CLOEXEC)) RT_FAIL("uts lost FD_CLOEXEC");
  rt_pass();
}
