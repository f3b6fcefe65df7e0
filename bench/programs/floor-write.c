/*
 * floor-write FILE BYTES: the machine's floor for a dump. Times writing BYTES into the new file FILE
 * from a warm buffer (touched before the clock starts) of at most 64 MiB, written again and again:
 * like a dump, it needs fresh memory only for the file's page cache. Prints nanoseconds.
 * Each write() is 64 KiB: the kernel gives a write a page cache folio as large as its length
 * allows, and here (6.18, ext4, a VM) large folios cost more: 1 GiB written took 1.5-2.3 s of system
 * time in 1 MiB writes, 0.2-0.4 s in 64 KiB ones (64 MiB writes were slower still), so a floor
 * of 1 MiB writes was no floor (CRIU, whose splices get smaller folios, beat it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s FILE BYTES\n", argv[0]); return 2; }
  syscall(SYS_close_range, 3, ~0U, 0);
  size_t bytes = strtoull(argv[2], NULL, 0);
  size_t chunk = bytes > (64UL << 20) ? (64UL << 20) : bytes;
  char *buf = mmap(NULL, chunk ? chunk : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) { perror("mmap"); return 1; }
  for (size_t i = 0; i < chunk; i += 4096) buf[i] = (char)(i >> 12) | 1;
  uint64_t t0 = now_ns();
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) { perror(argv[1]); return 1; }
  const size_t piece = 64UL << 10;
  for (size_t off = 0; off < bytes;) {
    size_t at = off % chunk;
    size_t n = bytes - off > piece ? piece : bytes - off;
    if (n > chunk - at) n = chunk - at;
    ssize_t w = write(fd, buf + at, n);
    if (w <= 0) { perror("write"); return 1; }
    off += (size_t)w;
  }
  close(fd);
  printf("%llu\n", (unsigned long long)(now_ns() - t0));
  return 0;
}
