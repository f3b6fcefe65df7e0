/* rt-files-ghost: files unlinked while open. Usage: rt-files-ghost OUTFILE DIR
 * A small one (content saved whole) and a 64 KiB one with a hole (saved as chunks), unlinked;
 * on SIGTERM: still unlinked, same name "(deleted)", same content, offset, mode and size. */
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

#define SMALL "the content of a small file unlinked while open\n"
#define BIG (64 * 1024)
static char small_path[512], big_path[512];

static int check(void) {
  struct stat st;
  char want[600], got[600];
  if (fstat(4, &st)) FAIL("fd 4: %s", strerror(errno));
  if (st.st_nlink != 0) FAIL("fd 4 has %ld links, want 0 (unlinked)", (long)st.st_nlink);
  if ((st.st_mode & 07777) != 0640 || st.st_size != (off_t)strlen(SMALL)) FAIL("fd 4 mode 0%o size %lld, want 0640 %zu", st.st_mode & 07777, (long long)st.st_size, strlen(SMALL));
  snprintf(want, sizeof want, "%s (deleted)", small_path);
  ssize_t n = readlink("/proc/self/fd/4", got, sizeof got - 1); got[n < 0 ? 0 : n] = 0;
  if (strcmp(got, want) != 0) FAIL("fd 4 is %s, want %s", got, want);
  if (access(small_path, F_OK) == 0) FAIL("%s exists again", small_path);
  if (lseek(4, 0, SEEK_CUR) != 5) FAIL("fd 4 offset %lld, want 5", (long long)lseek(4, 0, SEEK_CUR));
  char buf[BIG];
  if (pread(4, buf, sizeof buf, 0) != (ssize_t)strlen(SMALL) || memcmp(buf, SMALL, strlen(SMALL))) FAIL("fd 4 content differs: '%.20s'", buf);
  if (fstat(5, &st) || st.st_nlink != 0 || st.st_size != BIG) FAIL("fd 5: links %ld size %lld, want 0 and %d", (long)st.st_nlink, (long long)st.st_size, BIG);
  if (pread(5, buf, BIG, 0) != BIG) FAIL("fd 5: short read");
  for (int i = 0; i < BIG; i++) {
    char w = (i < 4096 || i >= 40960) ? (char)('a' + i % 26) : 0;
    if (buf[i] != w) FAIL("fd 5 byte %d is %d, want %d", i, buf[i], w);
  }
  if ((fcntl(5, F_GETFL) & O_ACCMODE) != O_RDWR) FAIL("fd 5 is not O_RDWR");
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  snprintf(small_path, sizeof small_path, "%s/small-ghost", argv[2]);
  snprintf(big_path, sizeof big_path, "%s/big-ghost", argv[2]);
  int fd = open(small_path, O_RDWR | O_CREAT | O_TRUNC, 0640);
  if (fd != 4 || write(fd, SMALL, strlen(SMALL)) != (ssize_t)strlen(SMALL) || lseek(fd, 5, SEEK_SET) != 5) DIE("small");
  fchmod(fd, 0640);
  fd = open(big_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd != 5 || ftruncate(fd, BIG)) DIE("big");
  static char buf[BIG];
  for (int i = 0; i < BIG; i++) buf[i] = (char)('a' + i % 26);
  if (pwrite(fd, buf, 4096, 0) != 4096 || pwrite(fd, buf + 40960, BIG - 40960, 40960) != BIG - 40960) DIE("big data");
  if (unlink(small_path) || unlink(big_path)) DIE("unlink");
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
