/*
 * dump-large: a process with many MiB of private pages, for dumps that take many batches of
 * injected vmsplices. Usage: dump-large OUTFILE DIR [MIB] (default 64).
 * Fills an anonymous region with a pattern (every 5th page left untouched, so the pages come in
 * many runs), writes "READY pid=N region=ADDR" to OUTFILE and sleeps. On SIGTERM it checks the
 * pattern and that untouched pages are still zero, and appends "PASS" or "FAIL: reason".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096
static volatile sig_atomic_t term;
static void on_term(int sig) { (void)sig; term = 1; }
static uint8_t pattern(size_t page, size_t i) { return (uint8_t)(page * 13 + i * 3 + 5); }

int main(int argc, char **argv) {
  if (argc < 3) return 1;
  syscall(SYS_close_range, 3, ~0U, 0);
  int devnull = open("/dev/null", O_RDWR);
  dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2);
  if (devnull > 2) close(devnull);
  if (setsid() < 0) return 1;
  int out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return 1;
  size_t pages = (size_t)(argc > 3 ? strtoul(argv[3], NULL, 0) : 64) * (1 << 20) / PAGE;
  uint8_t *region = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) { dprintf(out, "FAIL: mmap\n"); return 1; }
  for (size_t p = 0; p < pages; p++)
    if (p % 5 != 4)
      for (size_t i = 0; i < PAGE; i++) region[p * PAGE + i] = pattern(p, i);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  dprintf(out, "READY pid=%d region=%p\n", getpid(), (void *)region);
  while (!term) pause();
  for (size_t p = 0; p < pages; p++)
    for (size_t i = 0; i < PAGE; i++) {
      uint8_t want = p % 5 != 4 ? pattern(p, i) : 0;
      if (region[p * PAGE + i] != want) { dprintf(out, "FAIL: page %zu byte %zu is %u, not %u\n", p, i, region[p * PAGE + i], want); return 1; }
    }
  dprintf(out, "PASS\n");
  return 0;
}
