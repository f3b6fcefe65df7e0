/* rt-files-fs: working directory, root and umask. Usage: rt-files-fs OUTFILE DIR
 * chroot(DIR), chdir("/sub/dir"), umask 027. On SIGTERM: the same root (inode), cwd and umask. */
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

int main(int argc, char **argv) {
  start(argc, argv);
  char sub[512];
  snprintf(sub, sizeof sub, "%s/sub", argv[2]);
  mkdir(sub, 0700);
  snprintf(sub, sizeof sub, "%s/sub/dir", argv[2]);
  mkdir(sub, 0700);
  struct stat root, cwd;
  if (stat(argv[2], &root) || stat(sub, &cwd)) DIE("stat");
  if (chroot(argv[2]) || chdir("/sub/dir")) DIE("chroot");
  umask(027);
  ready_and_wait();
  struct stat r, c;
  char got[512];
  mode_t m = umask(0);
  if (m != 027) { say("FAIL: umask 0%o, want 027\n", m); return 0; }
  if (stat("/", &r) || r.st_ino != root.st_ino || r.st_dev != root.st_dev) { say("FAIL: root is inode %lu, want %lu (%s)\n", (unsigned long)r.st_ino, (unsigned long)root.st_ino, argv[2]); return 0; }
  if (stat(".", &c) || c.st_ino != cwd.st_ino) { say("FAIL: cwd is inode %lu, want %lu\n", (unsigned long)c.st_ino, (unsigned long)cwd.st_ino); return 0; }
  if (!getcwd(got, sizeof got) || strcmp(got, "/sub/dir")) { say("FAIL: getcwd() is %s, want /sub/dir\n", got); return 0; }
  say("PASS\n");
  return 0;
}
