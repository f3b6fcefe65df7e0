/* rt-overmount: a file the task opened by a path that a file system was mounted over since.
 * usage: rt-overmount OUTFILE DIR MODE
 *   file  DIR/sub/foo, a regular file holding "hidden-bytes", open read-write; a tmpfs then mounted
 *         on DIR/sub hides it. On SIGTERM: the descriptor is still that file (device and inode as
 *         before) with its bytes, and the path leads into the tmpfs.
 *   fifo  DIR/sub/foo a FIFO, open read-write with "queued" in it, hidden the same way. On SIGTERM:
 *         the bytes are still queued.
 * The tmpfs is unmounted at the end (the test unmounts it if the task does not get there). */
#include "rt.h"
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char sub[512], path[600];
  snprintf(sub, sizeof sub, "%s/sub", argv[2]);
  snprintf(path, sizeof path, "%s/foo", sub);
  int fifo = !strcmp(rt_mode, "fifo");
  if (mkdir(sub, 0700)) RT_FAIL("mkdir: %s", strerror(errno));
  if (fifo && mkfifo(path, 0600)) RT_FAIL("mkfifo: %s", strerror(errno));
  int fd = open(path, O_RDWR | (fifo ? 0 : O_CREAT), 0600);
  if (fd < 0) RT_FAIL("open: %s", strerror(errno));
  const char *data = fifo ? "queued" : "hidden-bytes";
  if (write(fd, data, strlen(data)) != (ssize_t)strlen(data)) RT_FAIL("write: %s", strerror(errno));
  struct stat before, now;
  fstat(fd, &before);
  if (mount("rt-overmount", sub, "tmpfs", 0, NULL)) RT_FAIL("mount: %s", strerror(errno));
  rt_ready("ino=%lu\n", (unsigned long)before.st_ino);
  rt_wait_term();

  fstat(fd, &now);
  RT_CHECK(now.st_dev == before.st_dev && now.st_ino == before.st_ino, "the descriptor is inode %lu of device %lu, not %lu of %lu",
           (unsigned long)now.st_ino, (unsigned long)now.st_dev, (unsigned long)before.st_ino, (unsigned long)before.st_dev);
  char b[32] = { 0 };
  ssize_t n = fifo ? read(fd, b, sizeof b - 1) : pread(fd, b, sizeof b - 1, 0);
  RT_CHECK(n == (ssize_t)strlen(data) && !strcmp(b, data), "read '%s' (%zd), want '%s'", b, n, data);
  struct stat hidden;
  RT_CHECK(stat(path, &hidden) != 0 && errno == ENOENT, "the path leads to a file again: the tmpfs is gone");
  if (umount(sub)) RT_FAIL("umount: %s", strerror(errno));
  rt_pass();
  return 0;
}
