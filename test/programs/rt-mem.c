/* rt-mem: the address space comes back exactly as it was.
 * usage: rt-mem OUTFILE DIR
 * Sets up heap (malloc + sbrk), a deep stack buffer, an anonymous mmap with one page never
 * touched, mixed protections (RW, R, RX, PROT_NONE with data under it), a private file mapping
 * with a dirty page, a shared file mapping, a MADV_HUGEPAGE area, a 1 TiB PROT_NONE reservation with
 * a written part, a written (file) page right above the vdso; records /proc/self/maps,
 * auxv, exe, cmdline, environ, the mm fields of /proc/self/stat and the vdso areas.
 * READY anon= untouched= stackbuf= heap= none= resv= (addresses); on SIGTERM compares all of it. */
#include "rt.h"
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>

static int PG; /* this kernel's page size (ppc64el's 6.1 kernel: 64 KiB) */
#define ANON_PAGES 64
#define UNTOUCHED 17 /* page of the anonymous mmap never written nor read */
#define THP (4 << 20)
#if UINTPTR_MAX > 0xffffffffu
#define RESERVED (1UL << 40) /* far beyond any test machine's memory and swap */
#else
#define RESERVED (1UL << 30) /* an ia32 task's address space holds no more */
#endif

static unsigned char pat(uintptr_t where, unsigned salt) { return (unsigned char)((where * 131 + salt) >> 3); }

static char maps0[65536], auxv0[4096], cmdline0[4096], environ0[65536], exe0[4096], stat0[4096];
static ssize_t auxv0n, cmdline0n, environ0n;

static ssize_t slurp(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = 0, r;
  while ((r = read(fd, buf + n, size - 1 - n)) > 0) n += r;
  close(fd);
  buf[n] = 0;
  return n;
}

/* /proc/self/maps without the device and inode columns (a line: start-end perms offset name). */
static void maps_now(char *buf, size_t size) {
  char raw[65536];
  slurp("/proc/self/maps", raw, sizeof raw);
  size_t o = 0;
  for (char *line = strtok(raw, "\n"); line; line = strtok(NULL, "\n")) {
    char range[64], perms[8], off[32], dev[16], name[1024] = "";
    unsigned long ino;
    if (sscanf(line, "%63s %7s %31s %15s %lu %1023[^\n]", range, perms, off, dev, &ino, name) < 5) continue;
    char *n = name;
    while (*n == ' ') n++;
#ifdef __i386__
    /* A 32-bit task restored by cryo's 64-bit stub shows the (unreachable) 64-bit vsyscall page. */
    if (strcmp(n, "[vsyscall]") == 0) continue;
#endif
    o += snprintf(buf + o, size - o, "%s %s %s %s\n", range, perms, off, n);
  }
}

/* fields 26-28 and 45-51 of /proc/self/stat: code, stack, data, brk, args, environment. */
static void stat_mm(char *out, size_t size) {
  char raw[4096];
  slurp("/proc/self/stat", raw, sizeof raw);
  char *p = strrchr(raw, ')') + 2;
  int field = 3;
  size_t o = 0;
  for (char *t = strtok(p, " \n"); t; t = strtok(NULL, " \n"), field++)
    if ((field >= 26 && field <= 28) || (field >= 45 && field <= 51)) o += snprintf(out + o, size - o, "%d=%s ", field, t);
}

/* The first line where a and b differ, as "A | B". */
static const char *first_diff(const char *a, const char *b) {
  static char out[1024];
  while (*a || *b) {
    size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
    if (la != lb || memcmp(a, b, la) != 0) {
      snprintf(out, sizeof out, "%.*s | now %.*s", (int)la, a, (int)lb, b);
      return out;
    }
    a += la + (a[la] != 0);
    b += lb + (b[lb] != 0);
  }
  return NULL;
}

static int present(void *addr) {
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  uint64_t e = 0;
  pread(fd, &e, 8, (off_t)((uintptr_t)addr / PG) * 8);
  close(fd);
  return (int)(e >> 63);
}

static int grow_stack(int depth) {
  volatile char pad[4096];
  pad[0] = (char)depth;
  return depth == 0 ? pad[0] : grow_stack(depth - 1) + pad[0];
}

static void mkfile(const char *dir, const char *name, int pages, char *path, size_t pathsz) {
  snprintf(path, pathsz, "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  unsigned char buf[PG];
  for (int p = 0; p < pages; p++) {
    for (int i = 0; i < PG; i++) buf[i] = pat((uintptr_t)(p * PG + i), 7);
    if (write(fd, buf, PG) != PG) _exit(4);
  }
  close(fd);
}

/* The [vdso] mapping's bounds from /proc/self/maps (0 when there is none). */
static void vdso_bounds(unsigned long *start, unsigned long *end) {
  char raw[65536];
  *start = *end = 0;
  slurp("/proc/self/maps", raw, sizeof raw);
  for (char *line = strtok(raw, "\n"); line; line = strtok(NULL, "\n"))
    if (strstr(line, "[vdso]")) sscanf(line, "%lx-%lx", start, end);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  const char *dir = argv[2];
  PG = (int)sysconf(_SC_PAGESIZE);

  /* heap: malloc'd block and memory added with sbrk */
  unsigned char *heap = malloc(20000);
  for (int i = 0; i < 20000; i++) heap[i] = pat((uintptr_t)i, 1);
  unsigned char *brkmem = sbrk(3 * PG);
  for (int i = 0; i < 3 * PG; i++) brkmem[i] = pat((uintptr_t)i, 2);
  void *brk0 = sbrk(0);

  /* stack: a buffer deep in the stack */
  unsigned char stackbuf[96 * 1024];
  for (size_t i = 0; i < sizeof stackbuf; i++) stackbuf[i] = pat(i, 3);

  /* anonymous private mmap, one page never touched, one page written with zeros */
  unsigned char *anon = mmap(NULL, ANON_PAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (int p = 0; p < ANON_PAGES; p++) {
    if (p == UNTOUCHED) continue;
    for (int i = 0; i < PG; i++) anon[p * PG + i] = p == 5 ? 0 : pat((uintptr_t)(p * PG + i), 4);
  }

  /* mixed protections: RW | R | RX | NONE, each page with data */
  unsigned char *prot = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  for (int i = 0; i < 4 * PG; i++) prot[i] = pat((uintptr_t)i, 5);
  mprotect(prot + PG, PG, PROT_READ);
  mprotect(prot + 2 * PG, PG, PROT_READ | PROT_EXEC);
  mprotect(prot + 3 * PG, PG, PROT_NONE);

  /* file mappings: private with a dirty page, shared written through */
  char fpath[1024], spath[1024];
  mkfile(dir, "private.dat", 3, fpath, sizeof fpath);
  mkfile(dir, "shared.dat", 2, spath, sizeof spath);
  int fd = open(fpath, O_RDONLY | O_CLOEXEC);
  unsigned char *fpriv = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  volatile unsigned char touch = fpriv[0];
  (void)touch;
  for (int i = 0; i < PG; i++) fpriv[PG + i] = pat((uintptr_t)i, 8);
  fd = open(spath, O_RDWR | O_CLOEXEC);
  unsigned char *fshared = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  memcpy(fshared + 100, "written through the mapping", 27);

  /* transparent huge pages */
  unsigned char *thp_raw = mmap(NULL, 2 * THP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned char *thp = (unsigned char *)(((uintptr_t)thp_raw + THP - 1) & ~(uintptr_t)(THP - 1));
  munmap(thp_raw, thp - thp_raw);
  munmap(thp + THP, thp_raw + 2 * THP - (thp + THP));
  madvise(thp, THP, MADV_HUGEPAGE);
  for (int i = 0; i < THP; i += 512) thp[i] = pat((uintptr_t)i, 9);

  /* A reservation as MariaDB makes one: 1 TiB (ia32: 1 GiB) of PROT_NONE (private, no MAP_NORESERVE: never charged
   * to the commit limit while nothing may write it), its first pages made writable and written. */
  unsigned char *resv = mmap(NULL, RESERVED, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (resv == MAP_FAILED || mprotect(resv, 4 * PG, PROT_READ | PROT_WRITE)) { rt_say("FAIL: the reservation\n"); return 1; }
  for (int i = 0; i < 4 * PG; i++) resv[i] = pat((uintptr_t)i, 10);

  /* The page right above the vdso gets a written byte (where that is free, a private page of a
   * file of its own: file-backed like ld.so's, since anonymous pages would form a run of their own,
   * marked lazy; else ld.so's ELF header, copied on write: x86_64 has it there); every vdso page is
   * read, so the dump's run of present pages goes on from the vdso (not written back at restore)
   * into that page (which must be). arm64 has ld.so's relro data there, which the program relies on
   * anyway. */
  unsigned long vs, ve;
  vdso_bounds(&vs, &ve);
  volatile unsigned char vsum = 0;
  for (unsigned long a = vs; a < ve; a += PG) vsum += *(volatile unsigned char *)a;
  char apath[1024];
  mkfile(dir, "above-vdso.dat", 1, apath, sizeof apath);
  int afd = open(apath, O_RDONLY | O_CLOEXEC);
  unsigned char *above = ve ? mmap((void *)ve, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED_NOREPLACE, afd, 0) : MAP_FAILED;
  close(afd);
  if (above != MAP_FAILED && above != (unsigned char *)ve) { munmap(above, PG); above = MAP_FAILED; }
  if (above == MAP_FAILED && ve && memcmp((void *)ve, "\177ELF", 4) == 0 && mprotect((void *)ve, PG, PROT_READ | PROT_WRITE) == 0) above = (unsigned char *)ve;
  if (above != MAP_FAILED) {
    above[12] = 0xa5; /* e_ident's padding: nothing reads it */
    if (memcmp(above, "\177ELF", 4) == 0) mprotect(above, PG, PROT_READ);
  }

  /* Twice: maps_now's parsing reaches deeper than where it read the file, and may grow the stack
   * after its snapshot; the second snapshot includes what the first run grew. */
  maps_now(maps0, sizeof maps0);
  maps_now(maps0, sizeof maps0);
  auxv0n = slurp("/proc/self/auxv", auxv0, sizeof auxv0);
  cmdline0n = slurp("/proc/self/cmdline", cmdline0, sizeof cmdline0);
  environ0n = slurp("/proc/self/environ", environ0, sizeof environ0);
  ssize_t n = readlink("/proc/self/exe", exe0, sizeof exe0 - 1);
  exe0[n < 0 ? 0 : n] = 0;
  stat_mm(stat0, sizeof stat0);
  unsigned long hwcap = getauxval(AT_HWCAP), vdso = getauxval(AT_SYSINFO_EHDR);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);

  rt_ready("anon=%p untouched=%p stackbuf=%p heap=%p none=%p abovevdso=%p resv=%p\n", (void *)anon, (void *)(anon + UNTOUCHED * PG), (void *)stackbuf, (void *)heap, (void *)(prot + 3 * PG), above == MAP_FAILED ? NULL : (void *)above, (void *)(resv + 4 * PG));
  rt_wait_term();

  char maps1[65536], buf[65536];
  maps_now(maps1, sizeof maps1);
  const char *d = first_diff(maps0, maps1);
  RT_CHECK(!d, "maps differ: %s", d);
  for (int i = 0; i < 20000; i++) RT_CHECK(heap[i] == pat((uintptr_t)i, 1), "heap byte %d", i);
  for (int i = 0; i < 3 * PG; i++) RT_CHECK(brkmem[i] == pat((uintptr_t)i, 2), "sbrk byte %d", i);
  RT_CHECK(sbrk(0) == brk0, "brk is %p, want %p", sbrk(0), brk0);
  RT_CHECK(sbrk(PG) == brk0 && sbrk(0) == (char *)brk0 + PG, "brk does not grow");
  for (size_t i = 0; i < sizeof stackbuf; i++) RT_CHECK(stackbuf[i] == pat(i, 3), "stack byte %zu", i);
  grow_stack(256); /* the stack still grows down past what it had */
  RT_CHECK(!present(anon + UNTOUCHED * PG), "the untouched page is present after restore");
  for (int p = 0; p < ANON_PAGES; p++) {
    if (p == UNTOUCHED) continue;
    for (int i = 0; i < PG; i++)
      RT_CHECK(anon[p * PG + i] == (p == 5 ? 0 : pat((uintptr_t)(p * PG + i), 4)), "anon byte %d of page %d", i, p);
  }
  for (int i = 0; i < PG; i++) RT_CHECK(anon[UNTOUCHED * PG + i] == 0, "untouched page byte %d is not zero", i);
  RT_CHECK(mprotect(prot + 3 * PG, PG, PROT_READ) == 0, "mprotect");
  for (int i = 0; i < 4 * PG; i++) RT_CHECK(prot[i] == pat((uintptr_t)i, 5), "byte %d of the mixed-protection area", i);
  for (int p = 0; p < 3; p++)
    for (int i = 0; i < PG; i++)
      RT_CHECK(fpriv[p * PG + i] == pat((uintptr_t)(p == 1 ? i : p * PG + i), p == 1 ? 8 : 7), "private file mapping byte %d of page %d", i, p);
  fd = open(fpath, O_RDONLY | O_CLOEXEC);
  RT_CHECK(pread(fd, buf, PG, PG) == PG && (unsigned char)buf[0] == pat(PG, 7), "the private mapping's write reached the file");
  close(fd);
  RT_CHECK(memcmp(fshared + 100, "written through the mapping", 27) == 0, "shared file mapping lost its data");
  memcpy(fshared + 200, "after restore", 13);
  fd = open(spath, O_RDONLY | O_CLOEXEC);
  RT_CHECK(pread(fd, buf, 13, 200) == 13 && memcmp(buf, "after restore", 13) == 0, "a write to the shared mapping after restore does not reach the file");
  close(fd);
  if (above != MAP_FAILED)
    RT_CHECK(above[12] == 0xa5, "byte 12 of the page above the vdso is 0x%02x, not 0xa5", above[12]);
  for (int i = 0; i < THP; i += 512) RT_CHECK(thp[i] == pat((uintptr_t)i, 9), "huge page area byte %d", i);
  for (int i = 0; i < 4 * PG; i++) RT_CHECK(resv[i] == pat((uintptr_t)i, 10), "byte %d of the reservation's written part", i);
  RT_CHECK(mprotect(resv + 4 * PG, PG, PROT_READ | PROT_WRITE) == 0, "more of the reservation made writable: %s", strerror(errno));
  resv[4 * PG] = 1;
  char want[64];
  snprintf(want, sizeof want, "%lx-", (unsigned long)thp);
  slurp("/proc/self/smaps", buf, sizeof buf);
  char *v = strstr(buf, want);
  char *vf = v ? strstr(v, "VmFlags:") : NULL;
  RT_CHECK(vf && strstr(vf, " hg") && strstr(vf, " hg") < strchr(vf, '\n'), "the huge page area lost MADV_HUGEPAGE");

  char now[65536];
  ssize_t m = slurp("/proc/self/auxv", now, sizeof now);
  RT_CHECK(m == auxv0n && memcmp(now, auxv0, m) == 0, "/proc/self/auxv differs");
  m = slurp("/proc/self/cmdline", now, sizeof now);
  RT_CHECK(m == cmdline0n && memcmp(now, cmdline0, m) == 0, "/proc/self/cmdline differs");
  m = slurp("/proc/self/environ", now, sizeof now);
  RT_CHECK(m == environ0n && memcmp(now, environ0, m) == 0, "/proc/self/environ differs");
  n = readlink("/proc/self/exe", now, sizeof now - 1);
  now[n < 0 ? 0 : n] = 0;
  RT_CHECK(strcmp(now, exe0) == 0, "/proc/self/exe is %s, want %s", now, exe0);
  stat_mm(now, sizeof now);
  RT_CHECK(strcmp(now, stat0) == 0, "mm fields of /proc/self/stat: %s, want %s", now, stat0);
  RT_CHECK(getauxval(AT_HWCAP) == hwcap && getauxval(AT_SYSINFO_EHDR) == vdso, "getauxval");

  /* the vdso: where it was, and clock_gettime through it agrees with the syscall */
  struct timespec t1, t2;
  RT_CHECK(clock_gettime(CLOCK_MONOTONIC, &t1) == 0, "clock_gettime");
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t2);
  double dv = (t2.tv_sec - t1.tv_sec) + (t2.tv_nsec - t1.tv_nsec) / 1e9;
  RT_CHECK(dv >= 0 && dv < 0.5, "vdso clock_gettime is %.3f s off the syscall's", dv);
  RT_CHECK(t1.tv_sec > t0.tv_sec || (t1.tv_sec == t0.tv_sec && t1.tv_nsec >= t0.tv_nsec), "CLOCK_MONOTONIC went back");
  rt_pass();
}
