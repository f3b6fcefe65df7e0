/* rt-hugetlb: memory in huge pages of hugetlbfs (MAP_HUGETLB), which cryo refuses to dump.
 * usage: rt-hugetlb OUTFILE DIR
 * Maps one default-size huge page, private, and fills it; READY; on SIGTERM the bytes must be as
 * written (the refused dump left them alone). "FAIL: mmap" at start when no huge page is free. */
#include "rt-check.h"
#include <sys/mman.h>

int main(int argc, char **argv) {
  start(argc, argv);
  size_t size = 0;
  FILE *f = fopen("/proc/meminfo", "r");
  char line[256];
  while (f && fgets(line, sizeof line, f)) if (sscanf(line, "Hugepagesize: %zu kB", &size) == 1) size <<= 10;
  if (f) fclose(f);
  unsigned char *p = size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0) : MAP_FAILED;
  if (p == MAP_FAILED) { say("FAIL: mmap of a huge page: %s\n", strerror(errno)); return 0; }
  for (size_t i = 0; i < size; i++) p[i] = (unsigned char)(i * 7);
  say("READY pid=%d at=%p\n", getpid(), (void *)p);
  rt_wait_term();
  for (size_t i = 0; i < size; i++)
    if (p[i] != (unsigned char)(i * 7)) { say("FAIL: byte %zu of the huge page\n", i); return 0; }
  say("PASS\n");
  return 0;
}
