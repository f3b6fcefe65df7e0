/*
 * precondition BYTES: touches BYTES of fresh anonymous memory and frees it again, so the run that
 * follows finds recently freed memory (this machine hands memory freed for ~2 s back to its host,
 * and touching such memory is several times slower). Every tool and reference gets the same.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s BYTES\n", argv[0]); return 2; }
  syscall(SYS_close_range, 3, ~0U, 0);
  size_t bytes = strtoull(argv[1], NULL, 0);
  if (bytes == 0) return 0;
  char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); return 1; }
  for (size_t i = 0; i < bytes; i += 4096) p[i] = 1;
  munmap(p, bytes);
  return 0;
}
