/* rt-files-opath: O_PATH descriptors. Usage: rt-files-opath OUTFILE DIR
 * fd 4: O_PATH of the regular file DIR/file; fd 5: O_PATH|O_NOFOLLOW of the symbolic link DIR/link
 * (to DIR/file); fd 6: O_PATH|O_NOFOLLOW of DIR/gone-link (to "some/target", owner 1234:4321),
 * unlinked; fd 7: O_PATH|O_DIRECTORY of DIR. On SIGTERM: each still O_PATH, the same files, the
 * links with their targets, the unlinked one still unlinked. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt-check.h"

static char dir[256], file[300], link_path[300], gone[300];

/* The flags line of /proc/self/fdinfo/FD. */
static unsigned long fd_flags(int fd) {
  char p[64], line[256];
  unsigned long v = 0;
  snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
  FILE *f = fopen(p, "r");
  if (!f) return 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "flags: %lo", &v) == 1) break;
  fclose(f);
  return v;
}

static int check(void) {
  struct stat a, b;
  char got[400], want[400];
  for (int fd = 4; fd <= 7; fd++)
    if (!(fd_flags(fd) & O_PATH)) FAIL("fd %d flags 0%lo, want O_PATH", fd, fd_flags(fd));
  if (fstat(4, &a) || stat(file, &b) || a.st_ino != b.st_ino || !S_ISREG(a.st_mode)) FAIL("fd 4 is not %s", file);
  if (fstat(5, &a) || lstat(link_path, &b) || a.st_ino != b.st_ino || !S_ISLNK(a.st_mode)) FAIL("fd 5 is not the link %s (mode 0%o)", link_path, a.st_mode);
  ssize_t n = readlinkat(5, "", got, sizeof got - 1); got[n < 0 ? 0 : n] = 0;
  if (strcmp(got, file)) FAIL("fd 5 points to '%s', want %s", got, file);
  if (fstat(6, &a) || !S_ISLNK(a.st_mode) || a.st_nlink != 0) FAIL("fd 6 mode 0%o links %ld, want an unlinked symbolic link", a.st_mode, (long)a.st_nlink);
  n = readlinkat(6, "", got, sizeof got - 1); got[n < 0 ? 0 : n] = 0;
  if (strcmp(got, "some/target")) FAIL("fd 6 points to '%s', want some/target", got);
  if (a.st_uid != 1234 || a.st_gid != 4321) FAIL("fd 6 owner %d:%d, want 1234:4321", a.st_uid, a.st_gid);
  snprintf(want, sizeof want, "%s (deleted)", gone);
  n = readlink("/proc/self/fd/6", got, sizeof got - 1); got[n < 0 ? 0 : n] = 0;
  if (strcmp(got, want)) FAIL("fd 6 is %s, want %s", got, want);
  if (faccessat(AT_FDCWD, gone, F_OK, AT_SYMLINK_NOFOLLOW) == 0) FAIL("%s exists again", gone);
  if (fstat(7, &a) || stat(dir, &b) || a.st_ino != b.st_ino || !S_ISDIR(a.st_mode)) FAIL("fd 7 is not %s", dir);
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  snprintf(dir, sizeof dir, "%s/d", argv[2]);
  snprintf(file, sizeof file, "%s/file", dir);
  snprintf(link_path, sizeof link_path, "%s/link", dir);
  snprintf(gone, sizeof gone, "%s/gone-link", dir);
  if (mkdir(dir, 0755) || close(open(file, O_CREAT | O_WRONLY, 0644)) || symlink(file, link_path) || symlink("some/target", gone)) DIE("setup");
  if (lchown(gone, 1234, 4321)) DIE("lchown");
  if (open(file, O_PATH) != 4 || open(link_path, O_PATH | O_NOFOLLOW) != 5 || open(gone, O_PATH | O_NOFOLLOW) != 6) DIE("open");
  if (open(dir, O_PATH | O_DIRECTORY) != 7 || unlink(gone)) DIE("open dir");
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
