/* rt-files-async: a pipe whose read end signals its owner (O_ASYNC, F_SETOWN, F_SETSIG).
 * Usage: rt-files-async OUTFILE DIR
 * fd 4 reads and fd 5 writes one pipe; fd 4 is O_ASYNC, owned by the process, with SIGUSR1 as its
 * signal. On SIGTERM: a byte written to fd 5 brings SIGUSR1, and fd 4 still has its flag, owner and signal. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt-check.h"

static volatile sig_atomic_t signals;
static void on_usr1(int sig) { (void)sig; signals++; }

static int check(void) {
  if (signals != 0) FAIL("%d SIGUSR1 before any write", (int)signals);
  if (write(5, "x", 1) != 1) FAIL("write fd 5: %s", strerror(errno));
  if (signals != 1) FAIL("%d SIGUSR1 after a write to fd 4's pipe, want 1", (int)signals);
  int fl = fcntl(4, F_GETFL);
  if (!(fl & O_ASYNC)) FAIL("fd 4 flags 0%o, want O_ASYNC", fl);
  if (fcntl(4, F_GETOWN) != getpid() || fcntl(4, F_GETSIG) != SIGUSR1) FAIL("fd 4 owner %d signal %d, want %d and %d", fcntl(4, F_GETOWN), fcntl(4, F_GETSIG), getpid(), SIGUSR1);
  return 0;
}

int main(int argc, char **argv) {
  start(argc, argv);
  int p[2];
  if (pipe(p) || p[0] != 4 || p[1] != 5) DIE("pipe");
  struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
  if (sigaction(SIGUSR1, &sa, NULL)) DIE("sigaction");
  if (fcntl(4, F_SETOWN, getpid()) || fcntl(4, F_SETSIG, SIGUSR1) || fcntl(4, F_SETFL, fcntl(4, F_GETFL) | O_ASYNC)) DIE("fcntl");
  ready_and_wait();
  if (check() == 0) say("PASS\n");
  return 0;
}
