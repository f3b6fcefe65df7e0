/* rt-task-rlimit: resource limits, soft and hard, several of them (all lowered: raising a hard
 * limit needs CAP_SYS_RESOURCE). Usage: rt-task-rlimit OUTFILE DIR. On SIGTERM: the same limits. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rt-check.h"
#include <sys/resource.h>

struct lim { int res; const char *name; rlim_t cur, max; };
static const struct lim w[] = {
  { RLIMIT_NOFILE, "RLIMIT_NOFILE", 100, 200 },
  { RLIMIT_CORE, "RLIMIT_CORE", 0, 1 << 20 },
  { RLIMIT_STACK, "RLIMIT_STACK", 4 << 20, 16 << 20 },
  { RLIMIT_FSIZE, "RLIMIT_FSIZE", 1 << 30, RLIM_INFINITY },
  { RLIMIT_NPROC, "RLIMIT_NPROC", 3000, 4000 },
  { RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE", 4096, 8192 },
  { RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING", 500, 600 },
  { RLIMIT_CPU, "RLIMIT_CPU", 1000, 2000 },
};
#define N (int)(sizeof w / sizeof w[0])

int main(int argc, char **argv) {
  start(argc, argv);
  for (int i = 0; i < N; i++) {
    struct rlimit r = { w[i].cur, w[i].max };
    if (setrlimit(w[i].res, &r)) DIE(w[i].name);
  }
  ready_and_wait();
  for (int i = 0; i < N; i++) {
    struct rlimit r;
    getrlimit(w[i].res, &r);
    if (r.rlim_cur != w[i].cur || r.rlim_max != w[i].max) {
      say("FAIL: %s soft %lld hard %lld, want %lld %lld\n", w[i].name, (long long)r.rlim_cur, (long long)r.rlim_max, (long long)w[i].cur, (long long)w[i].max);
      return 0;
    }
  }
  say("PASS\n");
  return 0;
}
