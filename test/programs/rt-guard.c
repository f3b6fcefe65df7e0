/* rt-guard: guard regions (madvise MADV_GUARD_INSTALL, Linux 6.13+) stay where they were.
 * usage: rt-guard OUTFILE DIR
 * Two mappings of four pages each: an anonymous one (guards on pages 1 and 3) and a private
 * mapping of a file in DIR (guards on pages 0 and 2; page 1 written, page 3 the file's own).
 * READY anon= file= ; on SIGTERM checks that every guard page still faults (SIGSEGV) on a read
 * and on a write, and that every other page holds its bytes and takes a write. */
#include "rt.h"
#include <setjmp.h>
#include <sys/mman.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum { PAGES = 4 };
static long pg;
static char *anon, *file;
/* Which pages are guards, per mapping. */
static const int anon_guard[PAGES] = { 0, 1, 0, 1 };
static const int file_guard[PAGES] = { 1, 0, 1, 0 };

static sigjmp_buf jump;
static volatile sig_atomic_t armed;
static void on_segv(int s) { (void)s; if (armed) siglongjmp(jump, 1); _exit(4); }

/* Whether touching p (a read, or a write of v) faults. */
static int faults(volatile char *p, int write, char v) {
  int fell = 0;
  armed = 1;
  if (sigsetjmp(jump, 1)) fell = 1;
  else if (write) *p = v;
  else (void)*p;
  armed = 0;
  return fell;
}

/* The byte page i of a mapping holds at offset j (file pages: the file's own for page 3). */
static char byte(char tag, int i, long j) { return (char)(tag + i * 7 + j % 251); }

static void fill(char *m, char tag, int i) { for (long j = 0; j < pg; j++) m[i * pg + j] = byte(tag, i, j); }

static void check(const char *what, char *m, char tag, const int *guard) {
  for (int i = 0; i < PAGES; i++) {
    char *p = m + i * pg;
    if (guard[i]) {
      RT_CHECK(faults(p, 0, 0) && faults(p + pg - 1, 1, 'x'), "guard page %d of the %s mapping does not fault", i, what);
      continue;
    }
    RT_CHECK(!faults(p, 0, 0), "page %d of the %s mapping faults", i, what);
    for (long j = 0; j < pg; j++) RT_CHECK(p[j] == byte(tag, i, j), "%s page %d byte %ld is 0x%02x", what, i, j, p[j] & 0xff);
    RT_CHECK(!faults(p + 1, 1, byte(tag, i, 1)), "page %d of the %s mapping does not take a write", i, what);
  }
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  pg = sysconf(_SC_PAGESIZE);
  struct sigaction sa = { .sa_handler = on_segv, .sa_flags = SA_NODEFER };
  sigaction(SIGSEGV, &sa, NULL);

  anon = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(anon != MAP_FAILED, "mmap anonymous: %s", strerror(errno));
  char path[4096];
  snprintf(path, sizeof path, "%s/guarded", argv[2]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  RT_CHECK(fd >= 0, "open %s: %s", path, strerror(errno));
  char *page = malloc(pg);
  for (int i = 0; i < PAGES; i++) {
    for (long j = 0; j < pg; j++) page[j] = byte('F', i, j);
    RT_CHECK(write(fd, page, pg) == pg, "write %s: %s", path, strerror(errno));
  }
  free(page);
  file = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  RT_CHECK(file != MAP_FAILED, "mmap %s: %s", path, strerror(errno));
  close(fd);

  for (int i = 0; i < PAGES; i++) {
    if (!anon_guard[i]) fill(anon, 'A', i);
    else RT_CHECK(madvise(anon + i * pg, pg, MADV_GUARD_INSTALL) == 0, "MADV_GUARD_INSTALL: %s", strerror(errno));
    if (file_guard[i]) RT_CHECK(madvise(file + i * pg, pg, MADV_GUARD_INSTALL) == 0, "MADV_GUARD_INSTALL: %s", strerror(errno));
  }
  fill(file, 'F', 1); /* the same bytes, now a private copy of the page */
  (void)*(volatile char *)(file + 3 * pg); /* the file's own page, read in */

  rt_ready("anon=%p file=%p\n", (void *)anon, (void *)file);
  rt_wait_term();

  check("anonymous", anon, 'A', anon_guard);
  check("file", file, 'F', file_guard);
  rt_pass();
}
