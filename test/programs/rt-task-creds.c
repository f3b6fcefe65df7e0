/* rt-task-creds: another user. Usage: rt-task-creds OUTFILE DIR
 * Started as root, it becomes uid 1000 / gid 1000 (saved and fs ids too), supplementary groups
 * 1001 1002, keeps CAP_KILL and CAP_NET_BIND_SERVICE (permitted and effective, CAP_KILL inheritable),
 * and drops CAP_SYS_ADMIN from its bounding set. On SIGTERM: all of it as it was. */
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
#include <grp.h>
#include <sys/fsuid.h>
#include <linux/capability.h>
#include <sys/prctl.h>

static int capget_(struct __user_cap_data_struct d[2]) {
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  return syscall(SYS_capget, &h, d);
}
static int capset_(struct __user_cap_data_struct d[2]) {
  struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
  return syscall(SYS_capset, &h, d);
}
#define KEEP ((1u << CAP_KILL) | (1u << CAP_NET_BIND_SERVICE))
#define INH (1u << CAP_KILL)

int main(int argc, char **argv) {
  start(argc, argv);
  gid_t groups[] = { 1001, 1002 };
  if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0)) DIE("PR_CAPBSET_DROP");
  if (setgroups(2, groups)) DIE("setgroups");
  if (setresgid(1000, 1000, 1000)) DIE("setresgid");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)) DIE("PR_SET_KEEPCAPS");
  if (setresuid(1000, 1000, 1000)) DIE("setresuid");
  struct __user_cap_data_struct d[2] = { { KEEP, KEEP, INH }, { 0, 0, 0 } };
  if (capset_(d)) DIE("capset");
  ready_and_wait();
  uid_t r, e, s; gid_t gr, ge, gs;
  getresuid(&r, &e, &s); getresgid(&gr, &ge, &gs);
  gid_t got[8]; int n = getgroups(8, got);
  struct __user_cap_data_struct c[2];
  capget_(c);
  if (r != 1000 || e != 1000 || s != 1000 || setfsuid(-1) != 1000) say("FAIL: uid %u/%u/%u fsuid %d, want 1000\n", r, e, s, setfsuid(-1));
  else if (gr != 1000 || ge != 1000 || gs != 1000 || setfsgid(-1) != 1000) say("FAIL: gid %u/%u/%u, want 1000\n", gr, ge, gs);
  else if (n != 2 || got[0] != 1001 || got[1] != 1002) say("FAIL: %d supplementary groups (%u ...), want 1001 1002\n", n, n > 0 ? got[0] : 0);
  else if (c[0].permitted != KEEP || c[0].effective != KEEP || c[0].inheritable != INH || c[1].permitted || c[1].effective)
    say("FAIL: capabilities prm 0x%x eff 0x%x inh 0x%x, want 0x%x 0x%x 0x%x\n", c[0].permitted, c[0].effective, c[0].inheritable, KEEP, KEEP, INH);
  else if (prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) != 0 || prctl(PR_CAPBSET_READ, CAP_KILL, 0, 0, 0) != 1) say("FAIL: bounding set wrong\n");
  else say("PASS\n");
  return 0;
}
