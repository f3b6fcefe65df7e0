/* rt-cgroup: a process and its child in cgroups of a named cgroup v1 hierarchy of their own
 * (name=cryo-rt-PID, mounted by the program at DIR/h): the parent in /p, the child in /p/kid, and
 * an empty cgroup /p/spare of mode 0750 beside it.
 * usage: rt-cgroup OUTFILE DIR
 * READY names the hierarchy (hier=cryo-rt-PID). On SIGTERM the parent checks /proc/self/cgroup shows
 * ROOT in that hierarchy, has the child check ROOT/kid (it exits 0 or 1), mounts the hierarchy again
 * to check ROOT/spare is there with mode 0750, and prints PASS or FAIL. ROOT is /p, or what the file
 * DIR/root says (a restore that moved the cgroups). The test unmounts the hierarchy and removes the
 * cgroups after the dump: restore makes them again. */
#include "rt.h"
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char hier[64];
static char root[256] = "/p";

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

/* ROOT from DIR/root, when the test wrote one. */
static void read_root(const char *dir) {
  char rf[4200];
  snprintf(rf, sizeof rf, "%s/root", dir);
  FILE *f = fopen(rf, "re");
  if (!f) return;
  if (!fgets(root, sizeof root, f)) RT_FAIL("empty %s", rf);
  root[strcspn(root, "\n")] = 0;
  fclose(f);
}

/* ROOT/spare is a cgroup of mode 0750 (the hierarchy mounted at DIR/check for the look). */
static const char *spare_problem(const char *dir, const char *opts) {
  static char why[512];
  char m[4200], p[4500];
  struct stat st;
  snprintf(m, sizeof m, "%s/check", dir);
  if ((mkdir(m, 0700) && errno != EEXIST) || mount("cgroup", m, "cgroup", 0, opts)) {
    snprintf(why, sizeof why, "mount %s again: %s", opts, strerror(errno));
    return why;
  }
  snprintf(p, sizeof p, "%s%s/spare", m, root);
  int r = stat(p, &st);
  int e = errno;
  umount(m);
  if (r) snprintf(why, sizeof why, "no cgroup %s/spare: %s", root, strerror(e));
  else if ((st.st_mode & 07777) != 0750) snprintf(why, sizeof why, "cgroup %s/spare has mode %o, not 750", root, st.st_mode & 07777);
  else return NULL;
  return why;
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
  char spare[4300];
  snprintf(spare, sizeof spare, "%s/p/spare", h);
  if (mkdir(spare, 0750) || chmod(spare, 0750)) RT_FAIL("mkdir %s: %s", spare, strerror(errno));
  int ready[2];
  if (pipe2(ready, O_CLOEXEC)) RT_FAIL("pipe");
  pid_t kid = fork();
  if (kid == 0) {
    move_to(argv[2], "/p/kid");
    close(ready[0]);
    if (write(ready[1], "k", 1) != 1) _exit(3);
    close(ready[1]);
    rt_wait_term();
    read_root(argv[2]);
    char kidcg[300];
    snprintf(kidcg, sizeof kidcg, "%s/kid", root);
    _exit(strcmp(where(), kidcg) ? 1 : 0);
  }
  close(ready[1]);
  char k;
  if (read(ready[0], &k, 1) != 1) RT_FAIL("the child did not join its cgroup");
  close(ready[0]);
  rt_ready("hier=%s kid=%d\n", hier + 5, kid); /* without "name=" */
  rt_wait_term();
  read_root(argv[2]);
  if (strcmp(where(), root)) RT_FAIL("in cgroup %s of %s, not %s", where(), hier, root);
  kill(kid, SIGTERM);
  int st;
  if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st)) RT_FAIL("the child did not exit");
  if (WEXITSTATUS(st)) RT_FAIL("the child is not in %s/kid of %s", root, hier);
  const char *why = spare_problem(argv[2], opts);
  if (why) RT_FAIL("%s", why);
  rt_pass();
}
