/*
 * Target for the src/sys e2e tests. Usage: sys-target OUT_FD
 * Writes "ready buf=0x.. counter=0x.. fd=N\n" to OUT_FD, where buf holds a known pattern, counter
 * is incremented about every millisecond and fd is a descriptor it opened (/dev/null).
 * On SIGUSR1 it writes "usr1 <counter>\n"; on SIGTERM "bye <first 16 bytes of buf in hex>\n" and exits 0.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_term;
static void on_usr1(int sig) { got_usr1 = 1; }
static void on_term(int sig) { got_term = 1; }

static char buf[4096] __attribute__((aligned(4096)));
static volatile unsigned long counter;

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s OUT_FD\n", argv[0]); return 2; }
  int out = atoi(argv[1]);
  /* Close inherited descriptors we did not open (this environment leaks some). */
  for (int fd = 3; fd < 1024; fd++) if (fd != out) close(fd);

  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(i * 7 + 3);
  memcpy(buf, "CRYO-SYS-PATTERN", 16);
  int devnull = open("/dev/null", O_RDONLY);

  signal(SIGUSR1, on_usr1);
  signal(SIGTERM, on_term);
  dprintf(out, "ready buf=%p counter=%p fd=%d\n", (void *)buf, (void *)&counter, devnull);

  while (!got_term) {
    counter++;
    if (got_usr1) { got_usr1 = 0; dprintf(out, "usr1 %lu\n", counter); }
    usleep(1000);
  }
  char hex[33];
  for (int i = 0; i < 16; i++) sprintf(hex + 2 * i, "%02x", (unsigned char)buf[i]);
  dprintf(out, "bye %s\n", hex);
  return 0;
}
