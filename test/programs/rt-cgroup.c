/* rt-cgroup: a process and its child in cgroups of a named cgroup v1 hierarchy of their own
 * (name=cryo-rt-PID, mounted by the program at DIR/h): the parent in /p, the child in /p/kid.
 * usage: rt-cgroup OUTFILE DIR
 * READY names the hierarchy (hier=cryo-rt-PID). On SIGTERM the parent checks /proc/self/cgroup shows /p in
 * that hierarchy, has the child check /p/kid (it exits 0 or 1), and prints PASS or FAIL. The test
 * unmounts the hierarchy and removes both cgroups after the dump: restore makes them again. */
#include "rt.h"
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char hier[64];

/* This process's cgroup in the hierarchy, from /proc/self/cgroup. */
static const char *where(void) {
  static char line[512];
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return "?";
  size_t n = strlen(hier);
  while (fgets(line, sizeof line, f)) {
    char *c = strchr(line, ':');
    if (c && !strncmp(c + 1, hier, n) && c[1 + n] == ':') {
      fclose(f);
      line[strcspn(line, "\n")] = 0;
      return c + 2 + n;
    }
  }
  fclose(f);
  return "(none)";
}

static void move_to(const char *dir, const char *cg) {
  char p[4200];
  snprintf(p, sizeof p, "%s/h%s", dir, cg);
  if (mkdir(p, 0700) && errno != EEXIST) RT_FAIL("mkdir %s: %s", p, strerror(errno));
  strcat(p, "/cgroup.procs");
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "0", 1) != 1) RT_FAIL("join %s: %s", cg, strerror(errno));
  close(fd);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char h[4200], opts[128];
  snprintf(hier, sizeof hier, "name=cryo-rt-%d", getpid());
  snprintf(h, sizeof h, "%s/h", argv[2]);
  snprintf(opts, sizeof opts, "none,%s", hier);
  if (mkdir(h, 0700) || mount("cgroup", h, "cgroup", 0, opts)) RT_FAIL("mount %s: %s", opts, strerror(errno));
  move_to(argv[2], "/p");
  int ready[2];
  if (pipe2(ready, O_CLOEXEC)) RT_FAIL("pipe");
  pid_t kid = fork();
  if (kid == 0) {
    move_to(argv[2], "/p/kid");
    close(ready[0]);
    if (write(ready[1], "k", 1) != 1) _exit(3);
    close(ready[1]);
    rt_wait_term();
    _exit(strcmp(where(), "/p/kid") ? 1 : 0);
  }
  close(ready[1]);
  char k;
  if (read(ready[0], &k, 1) != 1) RT_FAIL("the child did not join its cgroup");
  close(ready[0]);
  rt_ready("hier=%s kid=%d\n", hier + 5, kid); /* without "name=" */
  rt_wait_term();
  if (strcmp(where(), "/p")) RT_FAIL("in cgroup %s of %s, not /p", where(), hier);
  kill(kid, SIGTERM);
  int st;
  if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st)) RT_FAIL("the child did not exit");
  if (WEXITSTATUS(st)) RT_FAIL("the child is not in /p/kid of %s", hier);
  rt_pass();
}
