/* rt-files-setid: a deleted file with set-user-ID and set-group-ID bits (mode 06604, as zdtm's
 * file_attr). Usage: rt-files-setid OUTFILE DIR
 * On SIGTERM: fd 4 is still that file, unlinked, named "(deleted)", mode 06604, with its content
 * and offset, and nothing is at its old path. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt-check.h"

#define DATA "a set-id file unlinked while open\n"
static char path[512];

static int check(void) {
  struct stat st;
  char want[600], got[600], buf[64];
  if (fstat(4, &st)) FAIL("fd 4: %s", strerror(errno));
  if (st.st_nlink != 0) FAIL("fd 4 has %ld links, want 0 (unlinked)", (long)st.st_nlink);
  if ((st.st_mode & 07777) != 06604) FAIL("fd 4 mode 0%o, want 06604", st.st_mode & 07777);
  if (st.st_uid != 0 || st.st_gid != 0) FAIL("fd 4 owner %d:%d, want 0:0", (int)st.st_uid, (int)st.st_gid);
  snprintf(want, sizeof want, "%s (deleted)", path);
  ssize_t n = readlink("/proc/self/fd/4", got, sizeof got - 1); got[n < 0 ? 0 : n] = 0;
  if (strcmp(got, want) != 0) FAIL("fd 4 is %s, want %s", got, want);
  if (access(path, F_OK) == 0) FAIL("%s exists again", path);
  if (lseek(4, 0, SEEK_CUR) != 3) FAIL("fd 4 offset %lld, want 3", (long long)lseek(4, 0, SEEK_CUR));
  if (pread(4, buf, sizeof buf, 0) != (ssize_t)strlen(DATA) || memcmp(buf, DATA, strlen(DATA))) FAIL("fd 4 content differs");
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  snprintf(path, sizeof path, "%s/setid", argv[2]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd != 4 || write(fd, DATA, strlen(DATA)) != (ssize_t)strlen(DATA) || lseek(fd, 3, SEEK_SET) != 3) DIE("open");
  if (fchown(fd, 0, 0) || fchmod(fd, 06604) || unlink(path)) DIE("fchmod");
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
