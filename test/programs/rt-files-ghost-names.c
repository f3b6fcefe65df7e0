/* rt-files-ghost-names: deleted files held under more than one name, or whose name is taken now.
 * Usage: rt-files-ghost-names OUTFILE DIR
 * fd 4 (O_RDWR) and fd 5 (O_RDONLY) hold one inode, opened through two links (d/a, d/b), both
 * unlinked. fd 6 holds d/taken, unlinked, and fd 7 a new file made at d/taken afterwards.
 * fd 8 is an unnamed file (O_TMPFILE in d). On SIGTERM: fd 4 and fd 5 are still one file,
 * each deleted file keeps its bytes and access mode, fd 7 is still d/taken, and d holds only taken. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt-check.h"

#define SHARED "one inode, two names"
#define GONE "the deleted file at d/taken"
#define NEW "the file made at d/taken after"
#define UNNAMED "an O_TMPFILE file"
static char dir[256], a_path[300], b_path[300], taken_path[300];

/* fd holds `want` from offset 0 and has no link left (or `links`). */
static int holds(int fd, const char *want, nlink_t links) {
  char buf[64] = "";
  struct stat st;
  if (fstat(fd, &st)) FAIL("fstat fd %d: %s", fd, strerror(errno));
  if (st.st_nlink != links) FAIL("fd %d has %ld links, want %ld", fd, (long)st.st_nlink, (long)links);
  if (pread(fd, buf, sizeof buf - 1, 0) != (ssize_t)strlen(want) || strcmp(buf, want)) FAIL("fd %d holds '%s', want '%s'", fd, buf, want);
  return 0;
}

static int check(void) {
  struct stat a, b;
  if (fstat(4, &a) || fstat(5, &b)) FAIL("fstat: %s", strerror(errno));
  if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) FAIL("fd 4 and fd 5 are different files, want one inode");
  if (holds(5, SHARED, 0) || holds(6, GONE, 0) || holds(7, NEW, 1) || holds(8, UNNAMED, 0)) return 1;
  if (pwrite(4, "O", 1, 0) != 1 || holds(5, "One inode, two names", 0)) return 1;
  if ((fcntl(5, F_GETFL) & O_ACCMODE) != O_RDONLY || (fcntl(6, F_GETFL) & O_ACCMODE) != O_RDWR) FAIL("fd 5/6 access modes differ");
  if ((fcntl(8, F_GETFL) & O_ACCMODE) != O_RDWR) FAIL("fd 8 flags 0%o, want O_RDWR", fcntl(8, F_GETFL));
  if (fstat(8, &a) || (a.st_mode & 07777) != 0640) FAIL("fd 8 mode 0%o, want 0640", a.st_mode & 07777);
  if (stat(taken_path, &a) || fstat(7, &b) || a.st_ino != b.st_ino) FAIL("%s is not fd 7's file", taken_path);
  DIR *d = opendir(dir);
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "taken")) FAIL("%s/%s exists: left behind", dir, e->d_name);
  closedir(d);
  return 0;
}

static void put(int fd, int want_fd, const char *text) {
  if (fd != want_fd || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) DIE(text);
}

int main(int argc, char **argv) {
  start(argc, argv);
  snprintf(dir, sizeof dir, "%s/d", argv[2]);
  snprintf(a_path, sizeof a_path, "%s/a", dir);
  snprintf(b_path, sizeof b_path, "%s/b", dir);
  snprintf(taken_path, sizeof taken_path, "%s/taken", dir);
  if (mkdir(dir, 0755)) DIE("mkdir");
  put(open(a_path, O_RDWR | O_CREAT | O_EXCL, 0644), 4, SHARED);
  if (link(a_path, b_path) || open(b_path, O_RDONLY) != 5) DIE("link");
  put(open(taken_path, O_RDWR | O_CREAT | O_EXCL, 0600), 6, GONE);
  if (unlink(a_path) || unlink(b_path) || unlink(taken_path)) DIE("unlink");
  put(open(taken_path, O_RDWR | O_CREAT | O_EXCL, 0600), 7, NEW);
  int fd = open(dir, O_TMPFILE | O_RDWR, 0640);
  put(fd, 8, UNNAMED);
  if (fchmod(fd, 0640)) DIE("fchmod");
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
