/* rt-files-link-remap: files opened by a path that no longer leads to them, while another link
 * keeps them (a dump links them as link_remap.N, restore opens them there and removes that name).
 * Usage: rt-files-link-remap OUTFILE DIR
 * In DIR/d: fd 4 (O_RDWR) opened as d/a, linked as d/keep, d/a unlinked; fd 5 (O_RDONLY) opened
 * as d/sub/b, linked as d/keep-b, then d/sub/b and d/sub removed; fd 6 (O_RDWR) opened as d/c,
 * linked as d/keep-c, d/c unlinked and a new file made there. d/link_remap.999 is a decoy (linked
 * as d/keep-decoy) an edited image may point at. On SIGTERM: each descriptor is the very file
 * its other link names (same inode, content, access mode), fd 4 is named "d/a (deleted)", a write
 * through fd 4 shows at d/keep, d/c is still the new file, and no other link_remap name is left. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt-check.h"

static char dir[256], p[8][320];
enum { A, KEEP, SUB, B, KEEP_B, C, KEEP_C, DECOY };

/* fd is the file at `other` and holds `want` (at its start). */
static int same(int fd, int other, const char *want) {
  struct stat a, b;
  char buf[64] = "";
  if (fstat(fd, &a) || stat(p[other], &b)) FAIL("stat fd %d / %s: %s", fd, p[other], strerror(errno));
  if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) FAIL("fd %d is another file than %s (inode %lu, want %lu)", fd, p[other], (unsigned long)a.st_ino, (unsigned long)b.st_ino);
  if (pread(fd, buf, sizeof buf - 1, 0) != (ssize_t)strlen(want) || strcmp(buf, want)) FAIL("fd %d holds '%s', want '%s'", fd, buf, want);
  return 0;
}

static int check(void) {
  if (same(4, KEEP, "linked elsewhere") || same(5, KEEP_B, "in a removed directory") || same(6, KEEP_C, "replaced")) return 1;
  if ((fcntl(4, F_GETFL) & O_ACCMODE) != O_RDWR || (fcntl(5, F_GETFL) & O_ACCMODE) != O_RDONLY || (fcntl(6, F_GETFL) & O_ACCMODE) != O_RDWR) FAIL("access modes differ");
  char name[400], want[400];
  ssize_t n = readlink("/proc/self/fd/4", name, sizeof name - 1);
  name[n < 0 ? 0 : n] = 0;
  snprintf(want, sizeof want, "%s (deleted)", p[A]);
  if (strcmp(name, want)) FAIL("fd 4 is named '%s', want '%s'", name, want);
  char buf[64] = "";
  int keep = open(p[KEEP], O_RDONLY);
  if (pwrite(4, "L", 1, 0) != 1 || pread(keep, buf, sizeof buf - 1, 0) <= 0 || strcmp(buf, "Linked elsewhere")) FAIL("a write through fd 4 shows at %s as '%s'", p[KEEP], buf);
  close(keep);
  int c = open(p[C], O_RDONLY);
  memset(buf, 0, sizeof buf);
  if (c < 0 || pread(c, buf, sizeof buf - 1, 0) <= 0 || strcmp(buf, "the new c")) FAIL("%s holds '%s', want the new c", p[C], buf);
  close(c);
  DIR *d = opendir(dir);
  struct dirent *e;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, "link_remap.", 11) && strcmp(e->d_name, "link_remap.999")) FAIL("%s/%s is left behind", dir, e->d_name);
  closedir(d);
  return 0;
}

static void make(int k, int want_fd, int flags, const char *text) {
  int fd = open(p[k], flags | O_CREAT | O_EXCL, 0644);
  if ((want_fd >= 0 && fd != want_fd) || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) DIE(p[k]);
  if (want_fd < 0) close(fd);
}

int main(int argc, char **argv) {
  start(argc, argv);
  snprintf(dir, sizeof dir, "%s/d", argv[2]);
  const char *names[] = { "a", "keep", "sub", "sub/b", "keep-b", "c", "keep-c", "link_remap.999" };
  for (int k = 0; k < 8; k++) snprintf(p[k], sizeof p[k], "%s/%s", dir, names[k]);
  if (mkdir(dir, 0755) || mkdir(p[SUB], 0755)) DIE("mkdir");
  make(A, 4, O_RDWR, "linked elsewhere");
  make(B, -1, O_WRONLY, "in a removed directory");
  if (open(p[B], O_RDONLY) != 5) DIE("open b");
  make(C, 6, O_RDWR, "replaced");
  make(DECOY, -1, O_WRONLY, "decoy");
  char decoy_keep[330];
  snprintf(decoy_keep, sizeof decoy_keep, "%s/keep-decoy", dir);
  if (link(p[A], p[KEEP]) || link(p[B], p[KEEP_B]) || link(p[C], p[KEEP_C]) || link(p[DECOY], decoy_keep)) DIE("link");
  if (unlink(p[A]) || unlink(p[B]) || rmdir(p[SUB]) || unlink(p[C])) DIE("unlink");
  make(C, -1, O_WRONLY, "the new c");
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
