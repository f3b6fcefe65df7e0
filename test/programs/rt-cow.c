/* rt-cow: private memory a parent shares copy-on-write with its forked child stays shared.
 * The root fills an anonymous private mapping (pages 0-6, page 7 never touched) and a private
 * mapping of a file in DIR (pages 0-1 written, 2-3 the file's) between guard pages, then forks.
 * After the fork the child writes its own page 5 and drops page 4 (MADV_DONTNEED), the root
 * writes its own page 6. On SIGTERM the root compares its page frames (/proc/PID/pagemap, root
 * sees PFNs) with the child's: anonymous pages 0-3 and file pages 0-1 are the same frame, pages
 * 4-6 are not; each process checks its contents (the child through its exit status).
 * usage: rt-cow OUTFILE DIR */
#include "rt-check.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGES 8
#define FILE_PAGES 4
static long ps;
static unsigned char *anon, *filemap;
static pid_t child;

/* The byte page `i` of `what` holds for process `who` (0: before the fork, 1: child, 2: root). */
static unsigned char fill(int what, int i, int who) { return (unsigned char)(what * 64 + i * 4 + who + 1); }

/* Guard pages around `pages` pages so the mapping stays one VMA of its own. */
static unsigned char *guarded(int pages, int fd) {
  unsigned char *a = mmap(NULL, (pages + 2) * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (a == MAP_FAILED) DIE("mmap");
  int flags = MAP_PRIVATE | MAP_FIXED | (fd < 0 ? MAP_ANONYMOUS : 0);
  if (mmap(a + ps, pages * ps, PROT_READ | PROT_WRITE, flags, fd, 0) == MAP_FAILED) DIE("mmap");
  return a + ps;
}

static int page_is(unsigned char *p, unsigned char v) {
  for (long k = 0; k < ps; k++) if (p[k] != v) return 0;
  return 1;
}

/* The child's contents: 0-3 from before the fork, 4 zero, 5 its own, 6 from before; file 0-1 written, 2-3 the file's. */
static int contents_ok(int who) {
  for (int i = 0; i < PAGES; i++) {
    unsigned char want = i == 7 ? 0 : i == 4 && who == 1 ? 0 : i == 5 && who == 1 ? fill(0, i, 1) : i == 6 && who == 2 ? fill(0, i, 2) : fill(0, i, 0);
    if (!page_is(anon + i * ps, want)) return 0;
  }
  for (int i = 0; i < FILE_PAGES; i++) if (!page_is(filemap + i * ps, i < 2 ? fill(1, i, 0) : fill(1, i, 3))) return 0;
  return 1;
}

/* The page frame of `addr` in process `pid` (0 when not present). */
static uint64_t pfn(pid_t pid, void *addr) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/pagemap", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) DIE("open pagemap");
  uint64_t e = 0;
  if (pread(fd, &e, 8, (off_t)((uintptr_t)addr / ps) * 8) != 8) DIE("read pagemap");
  close(fd);
  return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
}

static int check(void) {
  if (!contents_ok(2)) FAIL("the root's memory is not what it wrote");
  for (int i = 0; i < 7; i++) {
    uint64_t mine = pfn(getpid(), anon + i * ps), theirs = pfn(child, anon + i * ps);
    if (mine == 0) FAIL("the root's page %d is not present", i);
    if (i < 4 && mine != theirs) FAIL("page %d is not shared with the child (frames %#llx and %#llx): it was copied", i, (unsigned long long)mine, (unsigned long long)theirs);
    if (i >= 4 && mine == theirs) FAIL("page %d, written or dropped by one of them, is shared", i);
  }
  for (int i = 0; i < 2; i++) {
    uint64_t mine = pfn(getpid(), filemap + i * ps), theirs = pfn(child, filemap + i * ps);
    if (mine == 0 || mine != theirs) FAIL("page %d of the private file mapping is not shared with the child", i);
  }
  kill(child, SIGTERM);
  int st;
  if (waitpid(child, &st, 0) != child) DIE("waitpid");
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) FAIL("the child's memory is not what it was (status %#x)", st);
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  ps = sysconf(_SC_PAGESIZE);
  char path[4096];
  snprintf(path, sizeof path, "%s/cow-file", argv[2]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) DIE("open");
  unsigned char *page = malloc(ps);
  for (int i = 0; i < FILE_PAGES; i++) {
    memset(page, fill(1, i, 3), ps);
    if (write(fd, page, ps) != ps) DIE("write");
  }
  anon = guarded(PAGES, -1);
  filemap = guarded(FILE_PAGES, fd);
  close(fd);
  for (int i = 0; i < 7; i++) memset(anon + i * ps, fill(0, i, 0), ps);
  for (int i = 0; i < 2; i++) memset(filemap + i * ps, fill(1, i, 0), ps);
  volatile unsigned char sum = 0;
  for (int i = 2; i < FILE_PAGES; i++) sum += filemap[i * ps];
  int done[2];
  if (pipe(done) < 0) DIE("pipe");
  child = fork();
  if (child < 0) DIE("fork");
  if (child == 0) {
    memset(anon + 5 * ps, fill(0, 5, 1), ps);
    if (madvise(anon + 4 * ps, ps, MADV_DONTNEED) < 0) _exit(2);
    close(done[1]);
    while (!term) usleep(10000);
    _exit(contents_ok(1) ? 0 : 1);
  }
  close(done[1]);
  char c;
  if (read(done[0], &c, 1) != 0) DIE("read");
  close(done[0]);
  memset(anon + 6 * ps, fill(0, 6, 2), ps);
  rt_ready("pid=%d child=%d anon=%p file=%p\n", getpid(), child, (void *)anon, (void *)filemap);
  rt_wait_term();
  if (check() == 0) rt_pass();
  return 0;
}
