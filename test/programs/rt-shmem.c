/* rt-shmem: shared anonymous memory comes back shared.
 * usage: rt-shmem OUTFILE DIR
 * A MAP_SHARED|MAP_ANONYMOUS region of 16 pages holds a pattern, page 5 never touched; its page
 * 10 is made read-only (the region becomes three VMAs of one segment, the last at an offset).
 * A second view of the same segment (mmap of /proc/self/map_files/...) sits elsewhere, and a
 * MAP_SHARED mapping of /dev/zero holds a pattern too.
 * READY shm= untouched= view= zero= (addresses); on SIGTERM checks the data, that the untouched
 * page is still zero and not in the segment, that writes through one view land in the other. */
#include "rt.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

static int PG; /* this kernel's page size (ppc64el's 6.1 kernel: 64 KiB) */
#define PAGES 16
#define UNTOUCHED 5
#define RO 10
#define ZPAGES 3

static unsigned char pat(uintptr_t where, unsigned salt) { return (unsigned char)((where * 151 + salt) >> 2) | 1; }

static ino_t ino_of(void *start, size_t len) {
  char p[128];
  struct stat st;
  snprintf(p, sizeof p, "/proc/self/map_files/%lx-%lx", (unsigned long)start, (unsigned long)start + len);
  return stat(p, &st) == 0 ? st.st_ino : 0;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  PG = (int)sysconf(_SC_PAGESIZE);
  unsigned char *shm = mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(shm != MAP_FAILED, "mmap shared anonymous: %s", strerror(errno));
  for (int p = 0; p < PAGES; p++) {
    if (p == UNTOUCHED) continue;
    for (int i = 0; i < PG; i++) shm[p * PG + i] = pat((uintptr_t)(p * PG + i), 1);
  }
  RT_CHECK(mprotect(shm + RO * PG, PG, PROT_READ) == 0, "mprotect: %s", strerror(errno));

  /* A second view of the first 4 pages through map_files (same segment, offset 0). */
  char mf[128];
  snprintf(mf, sizeof mf, "/proc/self/map_files/%lx-%lx", (unsigned long)shm, (unsigned long)(shm + RO * PG));
  int fd = open(mf, O_RDWR | O_CLOEXEC);
  RT_CHECK(fd >= 0, "open %s: %s", mf, strerror(errno));
  unsigned char *view = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  RT_CHECK(view != MAP_FAILED, "mmap view: %s", strerror(errno));
  close(fd);
  RT_CHECK(memcmp(view, shm, 4 * PG) == 0, "the view does not show the segment");

  /* /dev/zero mapped shared: also shared anonymous memory. */
  fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
  unsigned char *zero = mmap(NULL, ZPAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  RT_CHECK(zero != MAP_FAILED, "mmap /dev/zero: %s", strerror(errno));
  close(fd);
  for (int i = 0; i < ZPAGES * PG; i++) zero[i] = pat((uintptr_t)i, 2);

  ino_t ino0 = ino_of(shm, RO * PG), zino0 = ino_of(zero, ZPAGES * PG);
  rt_ready("shm=%p untouched=%p view=%p zero=%p ino=%lu\n", (void *)shm, (void *)(shm + UNTOUCHED * PG), (void *)view, (void *)zero, (unsigned long)ino0);
  rt_wait_term();

  for (int p = 0; p < PAGES; p++) {
    if (p == UNTOUCHED) continue;
    for (int i = 0; i < PG; i++)
      RT_CHECK(shm[p * PG + i] == pat((uintptr_t)(p * PG + i), 1), "shm byte %d of page %d", i, p);
  }
  for (int i = 0; i < PG; i++) RT_CHECK(shm[UNTOUCHED * PG + i] == 0, "untouched page byte %d is not zero", i);
  for (int i = 0; i < ZPAGES * PG; i++) RT_CHECK(zero[i] == pat((uintptr_t)i, 2), "/dev/zero mapping byte %d", i);
  /* The three VMAs and the view are one segment: writes through one are seen in the others. */
  ino_t a = ino_of(shm, RO * PG), b = ino_of(shm + RO * PG, PG), c = ino_of(shm + (RO + 1) * PG, (PAGES - RO - 1) * PG), v = ino_of(view, 4 * PG);
  RT_CHECK(a && a == b && a == c && a == v, "the segment's VMAs have inodes %lu %lu %lu %lu", (unsigned long)a, (unsigned long)b, (unsigned long)c, (unsigned long)v);
  RT_CHECK(ino_of(zero, ZPAGES * PG) != a, "/dev/zero mapping and the segment share an inode");
  (void)zino0;
  RT_CHECK(memcmp(view, shm, 4 * PG) == 0, "the view does not show the segment after restore");
  shm[3 * PG + 7] = 0xAB;
  RT_CHECK(view[3 * PG + 7] == 0xAB, "a write to the segment does not show in the view");
  view[11] = 0xCD;
  RT_CHECK(shm[11] == 0xCD, "a write to the view does not show in the segment");
  /* The segment still ends where it ended: its size is the whole region. */
  struct stat st;
  snprintf(mf, sizeof mf, "/proc/self/map_files/%lx-%lx", (unsigned long)(shm + (RO + 1) * PG), (unsigned long)(shm + PAGES * PG));
  fd = open(mf, O_RDONLY | O_CLOEXEC);
  RT_CHECK(fd >= 0 && fstat(fd, &st) == 0 && st.st_size == PAGES * PG, "segment size %ld, want %d", fd < 0 ? -1L : (long)st.st_size, PAGES * PG);
  close(fd);
  RT_CHECK(mprotect(shm + RO * PG, PG, PROT_READ | PROT_WRITE) == 0, "mprotect after restore: %s", strerror(errno));
  rt_pass();
}
