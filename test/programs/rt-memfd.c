/* rt-memfd: memfds come back with their contents, seals, offsets and mappings.
 * usage: rt-memfd OUTFILE DIR
 * fd A: memfd "rt-memfd" (MFD_ALLOW_SEALING), 8 pages, data on pages 0-2 and 6 (the rest holes),
 *   offset 1234, seals F_SEAL_SHRINK|F_SEAL_GROW; fd B = dup(A) (one open file description);
 *   a shared mapping of all of it (written through) and a private mapping of pages 6-7 (written:
 *   copied on write, the memfd keeps its data).
 * fd C: memfd "rt-plain" (no sealing: F_SEAL_SEAL), 100 bytes, mode 0640, offset 3, O_CLOEXEC off.
 * A memfd "rt-maponly" that is only mapped (its fd closed).
 * READY a= b= c= map= priv= only= ; on SIGTERM checks all of it and that the mapping and the
 * descriptor are one inode. */
#include "rt.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

static int PG; /* this kernel's page size (ppc64el's 6.1 kernel: 64 KiB) */
#define PAGES 8

static unsigned char pat(uintptr_t where, unsigned salt) { return (unsigned char)((where * 97 + salt) >> 1) | 1; }

static ino_t map_ino(void *start, size_t len) {
  char p[128];
  struct stat st;
  snprintf(p, sizeof p, "/proc/self/map_files/%lx-%lx", (unsigned long)start, (unsigned long)start + len);
  return stat(p, &st) == 0 ? st.st_ino : 0;
}

static int data_page(int p) { return p <= 2 || p == 6; }

int main(int argc, char **argv) {
  rt_start(argc, argv);
  PG = (int)sysconf(_SC_PAGESIZE);
  unsigned char buf[PG];
  int a = memfd_create("rt-memfd", MFD_ALLOW_SEALING);
  RT_CHECK(a >= 0, "memfd_create: %s", strerror(errno));
  RT_CHECK(ftruncate(a, PAGES * PG) == 0, "ftruncate");
  for (int p = 0; p < PAGES; p++) {
    if (!data_page(p)) continue;
    for (int i = 0; i < PG; i++) buf[i] = pat((uintptr_t)(p * PG + i), 1);
    RT_CHECK(pwrite(a, buf, PG, p * PG) == PG, "pwrite");
  }
  lseek(a, 1234, SEEK_SET);
  int b = dup(a);
  unsigned char *map = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
  RT_CHECK(map != MAP_FAILED, "mmap shared: %s", strerror(errno));
  memcpy(map + PG + 50, "via-map", 7);
  unsigned char *priv = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, a, 6 * PG);
  RT_CHECK(priv != MAP_FAILED, "mmap private: %s", strerror(errno));
  priv[10] = 'P';
  RT_CHECK(fcntl(a, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "F_ADD_SEALS: %s", strerror(errno));

  int c = memfd_create("rt-plain", 0);
  RT_CHECK(write(c, "0123456789", 10) == 10, "write c");
  RT_CHECK(ftruncate(c, 100) == 0 && fchmod(c, 0640) == 0, "ftruncate/fchmod c");
  lseek(c, 3, SEEK_SET);

  int o = memfd_create("rt-maponly", MFD_CLOEXEC);
  RT_CHECK(ftruncate(o, 2 * PG) == 0, "ftruncate o");
  unsigned char *only = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, o, 0);
  for (int p = 0; p < 2; p++) {
    for (int i = 0; i < PG; i++) buf[i] = pat((uintptr_t)(p * PG + i), 3);
    RT_CHECK(pwrite(o, buf, PG, p * PG) == PG, "pwrite o");
  }
  close(o);

  rt_ready("a=%d b=%d c=%d map=%p priv=%p only=%p\n", a, b, c, (void *)map, (void *)priv, (void *)only);
  rt_wait_term();

  char link[256];
  ssize_t n;
  snprintf(link, sizeof link, "/proc/self/fd/%d", a);
  char target[256] = "";
  n = readlink(link, target, sizeof target - 1);
  target[n < 0 ? 0 : n] = 0;
  RT_CHECK(strcmp(target, "/memfd:rt-memfd (deleted)") == 0, "fd %d is %s", a, target);
  struct stat st;
  RT_CHECK(fstat(a, &st) == 0 && st.st_size == PAGES * PG, "memfd size %ld", (long)st.st_size);
  RT_CHECK(map_ino(map, PAGES * PG) == st.st_ino, "the shared mapping is not the descriptor's inode");
  RT_CHECK(map_ino(priv, 2 * PG) == st.st_ino, "the private mapping is not the descriptor's inode");
  int seals = fcntl(a, F_GET_SEALS);
  RT_CHECK(seals == (F_SEAL_SHRINK | F_SEAL_GROW), "seals are 0x%x, want 0x%x", seals, F_SEAL_SHRINK | F_SEAL_GROW);
  RT_CHECK(ftruncate(a, PG) < 0 && errno == EPERM, "a sealed memfd could shrink");
  RT_CHECK(lseek(a, 0, SEEK_CUR) == 1234, "offset of a is %ld", (long)lseek(a, 0, SEEK_CUR));
  RT_CHECK((fcntl(a, F_GETFL) & O_ACCMODE) == O_RDWR, "a is not O_RDWR");
  RT_CHECK(fcntl(a, F_GETFD) == 0, "a is close-on-exec");
  lseek(b, 777, SEEK_SET);
  RT_CHECK(lseek(a, 0, SEEK_CUR) == 777, "a and b are not one open file description");
  /* Holes stay holes (before anything below reads through the mapping, which fills them). */
  RT_CHECK(lseek(a, 3 * PG, SEEK_DATA) == 6 * PG, "the hole at pages 3-5 was filled (SEEK_DATA gives %ld)", (long)lseek(a, 3 * PG, SEEK_DATA));
  for (int p = 0; p < PAGES; p++) {
    RT_CHECK(pread(a, buf, PG, p * PG) == PG, "pread page %d", p);
    for (int i = 0; i < PG; i++) {
      unsigned char want = data_page(p) ? pat((uintptr_t)(p * PG + i), 1) : 0;
      if (p == 1 && i >= 50 && i < 57) want = (unsigned char)"via-map"[i - 50];
      RT_CHECK(buf[i] == want, "memfd byte %d of page %d", i, p);
      RT_CHECK(map[p * PG + i] == want, "shared mapping byte %d of page %d", i, p);
    }
  }
  for (int i = 0; i < 2 * PG; i++) {
    unsigned char want = i == 10 ? 'P' : (i < PG ? pat((uintptr_t)(6 * PG + i), 1) : 0);
    RT_CHECK(priv[i] == want, "private mapping byte %d", i);
  }
  map[5 * PG + 9] = 0x5A;
  RT_CHECK(pread(a, buf, 1, 5 * PG + 9) == 1 && buf[0] == 0x5A, "a write to the mapping does not reach the memfd");
  RT_CHECK(pwrite(a, "fd", 2, 2 * PG) == 2 && memcmp(map + 2 * PG, "fd", 2) == 0, "a write to the memfd does not show in the mapping");

  RT_CHECK(fstat(c, &st) == 0 && st.st_size == 100 && (st.st_mode & 0777) == 0640, "rt-plain size %ld mode %o", (long)st.st_size, st.st_mode & 0777);
  RT_CHECK(fcntl(c, F_GET_SEALS) == F_SEAL_SEAL, "rt-plain seals 0x%x", fcntl(c, F_GET_SEALS));
  RT_CHECK(lseek(c, 0, SEEK_CUR) == 3, "rt-plain offset");
  RT_CHECK(pread(c, buf, 100, 0) == 100 && memcmp(buf, "0123456789", 10) == 0 && buf[99] == 0, "rt-plain contents");
  snprintf(link, sizeof link, "/proc/self/fd/%d", c);
  n = readlink(link, target, sizeof target - 1);
  target[n < 0 ? 0 : n] = 0;
  RT_CHECK(strcmp(target, "/memfd:rt-plain (deleted)") == 0, "fd %d is %s", c, target);

  for (int i = 0; i < 2 * PG; i++) RT_CHECK(only[i] == pat((uintptr_t)i, 3), "map-only memfd byte %d", i);
  char mf[128];
  snprintf(mf, sizeof mf, "/proc/self/map_files/%lx-%lx", (unsigned long)only, (unsigned long)only + 2 * PG);
  n = readlink(mf, target, sizeof target - 1);
  target[n < 0 ? 0 : n] = 0;
  RT_CHECK(strcmp(target, "/memfd:rt-maponly (deleted)") == 0, "the map-only memfd is %s", target);
  rt_pass();
}
