/* rt-cgroup-limits: a process and its child in cgroups of the pids controller (a cgroup v1 pids
 * hierarchy, or cgroup v2 with pids enabled under its root), each cgroup with a limit of its own:
 * /cryo-rt-lim-PID (pids.max 37; on v1 also notify_on_release 1) holding the parent, its /kid
 * (pids.max 5) holding the child, and an empty /spare (pids.max 3) whose cgroup.procs belongs to
 * uid 1234, as a delegated cgroup's does.
 * usage: rt-cgroup-limits OUTFILE DIR
 * READY says cg=/cryo-rt-lim-PID mnt=MOUNTPOINT v1=0|1 kid=PID. On SIGTERM the parent checks it is in cg,
 * has the child check it is in cg/kid (it exits 0 or 1), checks the three limits, the flag and the
 * owner, and prints PASS or FAIL naming what differs. The test removes the cgroups after the dump:
 * restore makes them again with their limits. */
#include "rt.h"
#include <sys/stat.h>
#include <sys/wait.h>

static char mnt[4096];
static char cg[64];
static int v1;

/* The pids controller's mount: a v1 hierarchy with it, else cgroup v2 where it can be enabled. */
static void find_pids(void) {
  char line[8192], m[4096], fs[64], opts[1024];
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (!f) RT_FAIL("mountinfo: %s", strerror(errno));
  mnt[0] = 0;
  while (fgets(line, sizeof line, f)) {
    char *dash = strstr(line, " - ");
    if (!dash || sscanf(line, "%*s %*s %*s %*s %4095s", m) != 1 || sscanf(dash + 3, "%63s %*s %1023s", fs, opts) != 2) continue;
    if (!strcmp(fs, "cgroup") && (strstr(opts, ",pids") || !strncmp(opts, "pids", 4))) {
      snprintf(mnt, sizeof mnt, "%s", m);
      v1 = 1;
      break;
    }
    if (!strcmp(fs, "cgroup2") && !mnt[0]) snprintf(mnt, sizeof mnt, "%s", m);
  }
  fclose(f);
  if (!mnt[0]) RT_FAIL("no cgroup hierarchy has the pids controller here");
}

static void put(const char *file, const char *value) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, value, strlen(value)) != (ssize_t)strlen(value)) RT_FAIL("write %s to %s: %s", value, file, strerror(errno));
  close(fd);
}

/* FILE's first line (without its newline), or "(FILE: error)". */
static const char *get(const char *file) {
  static char v[256];
  FILE *f = fopen(file, "re");
  if (!f || !fgets(v, sizeof v, f)) snprintf(v, sizeof v, "(%.200s: %s)", file, strerror(errno));
  if (f) fclose(f);
  v[strcspn(v, "\n")] = 0;
  return v;
}

static void make(const char *sub, const char *max) {
  char d[4300], p[4400];
  snprintf(d, sizeof d, "%s%s%s", mnt, cg, sub);
  if (mkdir(d, 0755)) RT_FAIL("mkdir %s: %s", d, strerror(errno));
  snprintf(p, sizeof p, "%s/pids.max", d);
  put(p, max);
}

static void join(const char *sub) {
  char p[4400];
  snprintf(p, sizeof p, "%s%s%s/cgroup.procs", mnt, cg, sub);
  put(p, "0");
}

/* This process's cgroup in the pids hierarchy (v1) or in cgroup v2, from /proc/self/cgroup. */
static const char *where(void) {
  static char line[512];
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (!f) return "?";
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    char *c = strchr(line, ':');
    if (!c) continue;
    char *p = strchr(c + 1, ':');
    if (!p) continue;
    *p = 0;
    int pids = strstr(c + 1, "pids") != NULL;
    if ((v1 && pids) || (!v1 && c[1] == 0)) {
      fclose(f);
      return p + 1;
    }
  }
  fclose(f);
  return "(none)";
}

/* The value of FILE of cgroup SUB is WANT, or the reason it is not. */
static const char *check(const char *sub, const char *file, const char *want) {
  static char why[512];
  char p[4400];
  snprintf(p, sizeof p, "%s%s%s/%s", mnt, cg, sub, file);
  const char *have = get(p);
  if (!strcmp(have, want)) return NULL;
  snprintf(why, sizeof why, "%s of %s%s is %s, not %s", file, cg, sub, have, want);
  return why;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  find_pids();
  snprintf(cg, sizeof cg, "/cryo-rt-lim-%d", getpid());
  if (!v1) {
    char sc[4200];
    snprintf(sc, sizeof sc, "%s/cgroup.subtree_control", mnt);
    put(sc, "+pids");
  }
  make("", "37");
  make("/kid", "5");
  make("/spare", "3");
  char p[4400];
  if (v1) {
    snprintf(p, sizeof p, "%s%s/notify_on_release", mnt, cg);
    put(p, "1");
  }
  snprintf(p, sizeof p, "%s%s/spare/cgroup.procs", mnt, cg);
  if (chown(p, 1234, 1234)) RT_FAIL("chown %s: %s", p, strerror(errno));
  join("");
  int ready[2];
  if (pipe2(ready, O_CLOEXEC)) RT_FAIL("pipe");
  pid_t kid = fork();
  if (kid == 0) {
    join("/kid");
    close(ready[0]);
    if (write(ready[1], "k", 1) != 1) _exit(3);
    close(ready[1]);
    rt_wait_term();
    char want[128];
    snprintf(want, sizeof want, "%s/kid", cg);
    _exit(strcmp(where(), want) ? 1 : 0);
  }
  close(ready[1]);
  char k;
  if (read(ready[0], &k, 1) != 1) RT_FAIL("the child did not join its cgroup");
  close(ready[0]);
  rt_ready("cg=%s mnt=%s v1=%d kid=%d\n", cg, mnt, v1, kid);
  rt_wait_term();
  if (strcmp(where(), cg)) RT_FAIL("in cgroup %s, not %s", where(), cg);
  kill(kid, SIGTERM);
  int st;
  if (waitpid(kid, &st, 0) != kid || !WIFEXITED(st)) RT_FAIL("the child did not exit");
  if (WEXITSTATUS(st)) RT_FAIL("the child is not in %s/kid", cg);
  const char *why = check("", "pids.max", "37");
  if (!why) why = check("/kid", "pids.max", "5");
  if (!why) why = check("/spare", "pids.max", "3");
  if (!why && v1) why = check("", "notify_on_release", "1");
  if (why) RT_FAIL("%s", why);
  struct stat sb;
  snprintf(p, sizeof p, "%s%s/spare/cgroup.procs", mnt, cg);
  if (stat(p, &sb)) RT_FAIL("stat %s: %s", p, strerror(errno));
  if (sb.st_uid != 1234) RT_FAIL("cgroup.procs of %s/spare belongs to uid %d, not 1234", cg, (int)sb.st_uid);
  rt_pass();
}
