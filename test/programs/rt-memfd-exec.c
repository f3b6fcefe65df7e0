/* rt-memfd-exec: a memfd holding a script is executed through its descriptor (execveat with
 * AT_EMPTY_PATH) before the dump and again after the restore: exec refuses a file some open file
 * description may write (ETXTBSY), and memfd_create's own description is none.
 * usage: rt-memfd-exec OUTFILE DIR
 * fd m: memfd "rt-exec" (O_RDWR) holding "#!/bin/true\n"; fd r: the same memfd reopened read-only
 * through /proc/self/fd/m; a shared mapping of m and a private one of r.
 * READY m= r= ; on SIGTERM: the exec works again, r reads the script, the mapping shows it. */
#include "rt.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static const char script[] = "#!/bin/true\n";

/* Runs the memfd; "" when it exited 0, else why not. */
static const char *run(int fd) {
  static char why[128];
  pid_t pid = fork();
  if (pid == 0) {
    char *argv[] = { "true", NULL }, *envp[] = { NULL };
    syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
    _exit(errno);
  }
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return "fork or wait failed";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  snprintf(why, sizeof why, "%s", WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "killed");
  return why;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int m = memfd_create("rt-exec", 0);
  RT_CHECK(m >= 0, "memfd_create: %s", strerror(errno));
  RT_CHECK(write(m, script, strlen(script)) == (ssize_t)strlen(script), "write");
  char p[64];
  snprintf(p, sizeof p, "/proc/self/fd/%d", m);
  int r = open(p, O_RDONLY);
  RT_CHECK(r >= 0, "reopen read-only: %s", strerror(errno));
  long pg = sysconf(_SC_PAGESIZE);
  char *shared = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_SHARED, m, 0);
  char *priv = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, r, 0);
  RT_CHECK(shared != MAP_FAILED && priv != MAP_FAILED, "mmap: %s", strerror(errno));
  const char *before = run(m);
  RT_CHECK(!*before, "exec of the memfd before the dump: %s", before);
  rt_ready("m=%d r=%d\n", m, r);
  rt_wait_term();

  const char *after = run(m);
  RT_CHECK(!*after, "exec of the memfd after restore: %s", after);
  char b[64] = { 0 };
  RT_CHECK(pread(r, b, sizeof b - 1, 0) == (ssize_t)strlen(script) && !strcmp(b, script), "the read-only descriptor reads '%s'", b);
  RT_CHECK(!memcmp(shared, script, sizeof script - 1) && !memcmp(priv, script, sizeof script - 1), "the mappings lost the script");
  rt_pass();
}
