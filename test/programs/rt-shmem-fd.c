/* rt-shmem-fd: descriptors of shared anonymous memory and private mappings of it come back.
 * usage: rt-shmem-fd OUTFILE DIR
 * A shared anonymous segment of 4 pages (page 3 never touched) has a descriptor (opened through
 * /proc/self/map_files, O_APPEND) and a private mapping of its pages 1-3 through that descriptor,
 * whose middle page the program writes (a private copy). A second segment is left with its
 * descriptor only: unmapped, truncated to 12 bytes of text, positioned at 3.
 * READY seg= priv= ino= ino2= ; on SIGTERM checks both descriptors (still shared anonymous
 * memory, same inode, size, content, position, flags), the segment's pages, that the private
 * page kept its copy and that the private mapping's other pages still show the segment. */
#include "rt.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

static long PG;
#define PAGES 4
static const char TEXT[] = "hello, world";

static unsigned char pat(uintptr_t where, unsigned salt) { return (unsigned char)((where * 151 + salt) >> 2) | 1; }

static int open_map_files(void *start, size_t len) {
  char p[128];
  snprintf(p, sizeof p, "/proc/self/map_files/%lx-%lx", (unsigned long)start, (unsigned long)start + len);
  int fd = open(p, O_RDWR);
  RT_CHECK(fd >= 0, "open %s: %s", p, strerror(errno));
  return fd;
}

static void check_link(int fd) {
  char p[64], l[256];
  snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(p, l, sizeof l - 1);
  RT_CHECK(n > 0, "readlink %s: %s", p, strerror(errno));
  l[n] = 0;
  RT_CHECK(strcmp(l, "/dev/zero (deleted)") == 0, "fd %d is %s, not shared anonymous memory", fd, l);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  PG = sysconf(_SC_PAGESIZE);
  unsigned char *seg = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(seg != MAP_FAILED, "mmap shared anonymous: %s", strerror(errno));
  for (long i = 0; i < 3 * PG; i++) seg[i] = pat((uintptr_t)i, 1);
  int fd = open_map_files(seg, PAGES * PG);
  RT_CHECK(fcntl(fd, F_SETFL, O_APPEND) == 0, "F_SETFL: %s", strerror(errno));
  unsigned char *priv = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PG);
  RT_CHECK(priv != MAP_FAILED, "mmap private: %s", strerror(errno));
  for (long i = 0; i < PG; i++) priv[PG + i] = pat((uintptr_t)i, 3);

  unsigned char *tmp = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(tmp != MAP_FAILED, "mmap shared anonymous: %s", strerror(errno));
  int fd2 = open_map_files(tmp, PG);
  munmap(tmp, PG);
  RT_CHECK(ftruncate(fd2, 0) == 0 && write(fd2, TEXT, strlen(TEXT)) == (ssize_t)strlen(TEXT) && lseek(fd2, 3, SEEK_SET) == 3,
           "fd2 setup: %s", strerror(errno));
  int fl = fcntl(fd, F_GETFL), fl2 = fcntl(fd2, F_GETFL);
  struct stat st, st2;
  RT_CHECK(fstat(fd, &st) == 0 && fstat(fd2, &st2) == 0, "fstat: %s", strerror(errno));

  rt_ready("seg=%p priv=%p ino=%lu ino2=%lu\n", (void *)seg, (void *)priv, (unsigned long)st.st_ino, (unsigned long)st2.st_ino);
  rt_wait_term();

  check_link(fd);
  check_link(fd2);
  RT_CHECK(fcntl(fd, F_GETFL) == fl && fcntl(fd2, F_GETFL) == fl2, "file flags 0%o 0%o, were 0%o 0%o", fcntl(fd, F_GETFL), fcntl(fd2, F_GETFL), fl, fl2);
  RT_CHECK(fstat(fd2, &st2) == 0 && st2.st_size == (off_t)strlen(TEXT), "fd2 size %ld, want %zu", (long)st2.st_size, strlen(TEXT));
  RT_CHECK(lseek(fd2, 0, SEEK_CUR) == 3, "fd2 position %ld, want 3", (long)lseek(fd2, 0, SEEK_CUR));
  char buf[sizeof TEXT] = { 0 };
  RT_CHECK(pread(fd2, buf, sizeof buf, 0) == (ssize_t)strlen(TEXT) && strcmp(buf, TEXT) == 0, "fd2 holds \"%s\"", buf);

  for (long i = 0; i < 3 * PG; i++) RT_CHECK(seg[i] == pat((uintptr_t)i, 1), "segment byte %ld", i);
  for (long i = 3 * PG; i < PAGES * PG; i++) RT_CHECK(seg[i] == 0, "untouched segment byte %ld is not zero", i);
  for (long i = 0; i < PG; i++) RT_CHECK(priv[i] == pat((uintptr_t)(PG + i), 1), "private mapping byte %ld (the segment's page 1)", i);
  for (long i = 0; i < PG; i++) RT_CHECK(priv[PG + i] == pat((uintptr_t)i, 3), "private page byte %ld", i);
  /* The descriptor is the segment's inode: its writes show in the mappings and back. */
  struct stat now;
  int seg_fd = open_map_files(seg, PAGES * PG);
  RT_CHECK(fstat(fd, &st) == 0 && fstat(seg_fd, &now) == 0 && st.st_ino == now.st_ino, "fd is inode %lu, the segment %lu", (unsigned long)st.st_ino, (unsigned long)now.st_ino);
  close(seg_fd);
  RT_CHECK(st.st_size == PAGES * PG, "segment size %ld, want %ld", (long)st.st_size, PAGES * PG);
  seg[3 * PG + 5] = 0x5A;
  RT_CHECK(priv[2 * PG + 5] == 0x5A, "a write to the segment does not show in the private mapping's untouched page");
  seg[2 * PG + 5] = 0xA5;
  RT_CHECK(priv[PG + 5] == pat(5, 3), "a write to the segment reached the private copy");
  unsigned char b = 0;
  RT_CHECK(pread(fd, &b, 1, 3 * PG + 5) == 1 && b == 0x5A, "the descriptor does not show the segment's write");
  rt_pass();
}
