/* rt-droppable: MAP_DROPPABLE memory and MADV_WIPEONFORK memory keep what they are.
 * usage: rt-droppable OUTFILE DIR
 * A MAP_DROPPABLE region (the kernel may drop its pages at any time: a cache, such as glibc's
 * getrandom state) and a private region marked MADV_WIPEONFORK both hold text.
 * READY drop= wipe= ; on SIGTERM checks that the wipe-on-fork text is intact, that both regions
 * are still what they were (smaps: droppable "dp", wipe-on-fork "wf": a child forked now sees
 * both zero) and that the droppable region takes writes. */
#include "rt.h"
#include <sys/mman.h>
#include <sys/wait.h>

#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

static const char TEXT[] = "kept across a checkpoint";

/* The VmFlags line of the smaps entry that starts at `addr`. */
static void vmflags(void *addr, char *out, size_t len) {
  char want[32], line[512];
  snprintf(want, sizeof want, "%lx-", (unsigned long)addr);
  FILE *f = fopen("/proc/self/smaps", "r");
  RT_CHECK(f, "open smaps: %s", strerror(errno));
  int in = 0;
  out[0] = 0;
  while (fgets(line, sizeof line, f)) {
    if (strchr(line, '-') && strncmp(line, want, strlen(want)) == 0) in = 1;
    else if (in && strncmp(line, "VmFlags:", 8) == 0) { snprintf(out, len, "%s", line + 8); break; }
  }
  fclose(f);
}

static int zero(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) if (p[i]) return 0;
  return 1;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  long pg = sysconf(_SC_PAGESIZE);
  char *drop = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(drop != MAP_FAILED, "mmap MAP_DROPPABLE: %s", strerror(errno));
  char *wipe = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  RT_CHECK(wipe != MAP_FAILED && madvise(wipe, pg, MADV_WIPEONFORK) == 0, "wipe-on-fork region: %s", strerror(errno));
  memcpy(drop, TEXT, sizeof TEXT);
  memcpy(wipe, TEXT, sizeof TEXT);

  rt_ready("drop=%p wipe=%p\n", (void *)drop, (void *)wipe);
  rt_wait_term();

  RT_CHECK(memcmp(wipe, TEXT, sizeof TEXT) == 0, "the wipe-on-fork region holds \"%.*s\"", (int)sizeof TEXT, wipe);
  char fl[512];
  vmflags(drop, fl, sizeof fl);
  RT_CHECK(strstr(fl, " dp"), "the droppable region is not droppable:%s", fl);
  vmflags(wipe, fl, sizeof fl);
  RT_CHECK(strstr(fl, " wf"), "the wipe-on-fork region is not wipe-on-fork:%s", fl);
  memcpy(drop, TEXT, sizeof TEXT);
  RT_CHECK(memcmp(drop, TEXT, sizeof TEXT) == 0, "the droppable region does not keep a write");
  pid_t pid = fork();
  RT_CHECK(pid >= 0, "fork: %s", strerror(errno));
  if (pid == 0) _exit(zero(drop, sizeof TEXT) && zero(wipe, sizeof TEXT) ? 0 : 1);
  int st;
  RT_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "a child forked after restore sees the text (status 0x%x)", st);
  rt_pass();
}
