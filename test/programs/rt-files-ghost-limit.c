/* rt-files-ghost-limit: a deleted file with 640 KiB of data on each side of a 1 GiB hole (more
 * data than dump's default --ghost-limit of 1 MiB; a size far above it). Usage: rt-files-ghost-limit OUTFILE DIR
 * READY says the data it holds (data=BYTES, its blocks); on SIGTERM: still unlinked, same name
 * "(deleted)", same size, both runs of data as written and the hole between them still zeros. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt-check.h"

#define RUN (640 * 1024)
#define HOLE (1024LL * 1024 * 1024)
static char path[512];
static char buf[RUN];

static char want(long long off) { return (char)('a' + (off / 4096 + off) % 26); }

static int check_run(long long at) {
  if (pread(4, buf, RUN, at) != RUN) FAIL("fd 4: short read at %lld", at);
  for (int i = 0; i < RUN; i++) {
    if (buf[i] != want(at + i)) FAIL("fd 4 byte %lld is %d, want %d", at + i, buf[i], want(at + i));
  }
  return 0;
}

static int check(void) {
  struct stat st;
  char want_name[600], got[600];
  if (fstat(4, &st)) FAIL("fd 4: %s", strerror(errno));
  if (st.st_nlink != 0) FAIL("fd 4 has %ld links, want 0 (unlinked)", (long)st.st_nlink);
  if (st.st_size != RUN + HOLE + RUN) FAIL("fd 4 size %lld, want %lld", (long long)st.st_size, RUN + HOLE + RUN);
  snprintf(want_name, sizeof want_name, "%s (deleted)", path);
  ssize_t n = readlink("/proc/self/fd/4", got, sizeof got - 1); got[n < 0 ? 0 : n] = 0;
  if (strcmp(got, want_name) != 0) FAIL("fd 4 is %s, want %s", got, want_name);
  if (check_run(0) || check_run(RUN + HOLE)) return 1;
  if (pread(4, buf, 4096, RUN + HOLE / 2) != 4096) FAIL("fd 4: short read in the hole");
  for (int i = 0; i < 4096; i++) if (buf[i]) FAIL("fd 4 byte %lld in the hole is %d", RUN + HOLE / 2 + i, buf[i]);
  return 0;
}

static void fill(int fd, long long at) {
  for (int i = 0; i < RUN; i++) buf[i] = want(at + i);
  if (pwrite(fd, buf, RUN, at) != RUN) DIE("pwrite");
}

int main(int argc, char **argv) {
  start(argc, argv);
  snprintf(path, sizeof path, "%s/holey", argv[2]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd != 4) DIE("open");
  fill(fd, 0);
  fill(fd, RUN + HOLE);
  struct stat st;
  if (fsync(fd) || fstat(fd, &st) || unlink(path)) DIE("unlink");
  say("READY pid=%d data=%lld\n", getpid(), (long long)st.st_blocks * 512);
  rt_wait_term();
  if (check() == 0) say("PASS\n");
  return 0;
}
