/* rt-novdso: a process that unmapped its vDSO comes back without one, and without anything of cryo's.
 * usage: rt-novdso OUTFILE DIR
 * A child unmaps its [vdso] and data areas ([vvar], [vvar_vclock]), then counts in a shared page
 * with raw system calls only (no vDSO: its clock functions and, on most architectures, its signal
 * return are gone). The parent notes the child's mappings (address range, protection, name).
 * READY child= ; on SIGTERM checks that the child still runs (its count moves on) and that its
 * mappings are exactly the noted ones: no vDSO came back, no page of cryo's stayed. */
#include "rt.h"
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define MAPS_MAX 16384

static int vdso_area(const char *line) {
  return strstr(line, "[vdso]") || strstr(line, "[vvar]") || strstr(line, "[vvar_vclock]");
}

static void child(volatile unsigned long *count) {
  char buf[MAPS_MAX];
  unsigned long start[8], end[8];
  int n = 0;
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) syscall(SYS_exit, 1);
  while (n < 8 && fgets(buf, sizeof buf, f))
    if (vdso_area(buf) && sscanf(buf, "%lx-%lx", &start[n], &end[n]) == 2) n++;
  fclose(f);
  for (int i = 0; i < n; i++)
    if (syscall(SYS_munmap, start[i], end[i] - start[i])) syscall(SYS_exit, 2);
  struct timespec ms = { 0, 1000 * 1000 };
  for (;;) {
    (*count)++;
    syscall(SYS_nanosleep, &ms, NULL);
  }
}

/* The child's mappings, one "range perms name" line each (offsets and inodes left out). */
static void maps_of(pid_t pid, char *out, size_t len) {
  char p[64], line[512];
  snprintf(p, sizeof p, "/proc/%d/maps", pid);
  FILE *f = fopen(p, "r");
  RT_CHECK(f, "open %s: %s", p, strerror(errno));
  size_t used = 0;
  out[0] = 0;
  while (fgets(line, sizeof line, f)) {
    char range[64], perms[8], name[400] = "";
    RT_CHECK(sscanf(line, "%63s %7s %*s %*s %*s %399[^\n]", range, perms, name) >= 2, "maps line %s", line);
    int n = snprintf(out + used, len - used, "%s %s %s\n", range, perms, name);
    RT_CHECK(n > 0 && used + n < len, "the child has too many mappings");
    used += n;
  }
  fclose(f);
}

/* Waits (up to 10 s) for the child's count to move past `from`. */
static int counts_on(volatile unsigned long *count, unsigned long from) {
  for (int i = 0; i < 10000 && *count == from; i++) {
    struct timespec ms = { 0, 1000 * 1000 };
    nanosleep(&ms, NULL);
  }
  return *count != from;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  volatile unsigned long *count = mmap(NULL, sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(count != MAP_FAILED, "mmap: %s", strerror(errno));
  pid_t pid = fork();
  RT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) child(count);
  RT_CHECK(counts_on(count, 0), "the child does not count");
  static char before[MAPS_MAX], after[MAPS_MAX];
  maps_of(pid, before, sizeof before);
  RT_CHECK(!strstr(before, "[vdso]") && !strstr(before, "[vvar"), "the child still has a vDSO area:\n%s", before);

  rt_ready("child=%d\n", pid);
  rt_wait_term();

  int st;
  RT_CHECK(waitpid(pid, &st, WNOHANG) == 0, "the child ended (status 0x%x)", st);
  RT_CHECK(counts_on(count, *count), "the child does not count after restore");
  maps_of(pid, after, sizeof after);
  kill(pid, SIGKILL);
  if (strcmp(before, after) != 0) {
    char *a = before, *b = after;
    while (*a && *a == *b) a++, b++;
    while (a > before && a[-1] != '\n') a--, b--;
    RT_FAIL("the child's mappings differ from line \"%.*s\": now \"%.*s\"", (int)strcspn(a, "\n"), a, (int)strcspn(b, "\n"), b);
  }
  rt_pass();
}
