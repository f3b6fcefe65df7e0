/* rt-stopped: stopped jobs in a tree come back stopped.
 * usage: rt-stopped OUTFILE DIR [left]
 *   c1  stopped by SIGSTOP, then sent SIGUSR1 (pending: its handler must not run while stopped)
 *       and SIGSTOP again (pending too, dropped by SIGCONT)
 *   c2  stopped by SIGTSTP, in a process group of its own (the kernel drops SIGTSTP sent to an
 *       orphaned group, and the root's group is one: the root's parent is in another session)
 * The root collects both stop reports before READY. On SIGTERM it checks each child is still
 * stopped (state T) and reports a stop with its own signal (restored: stopped anew; mode "left",
 * a dump that left the tree running: no new report, as if nothing happened), that c1's handler
 * has not run, then continues both: c1 runs its handler and exits 0, c2 exits 0. */
#include "rt.h"
#include <sys/mman.h>
#include <sys/wait.h>

static volatile int *shm;
static pid_t c1, c2;

/* A failure kills the children: stopped ones would outlive the root. */
#define FAIL(...) do { kill(c1, SIGKILL); kill(c2, SIGKILL); waitpid(c1, NULL, 0); waitpid(c2, NULL, 0); RT_FAIL(__VA_ARGS__); } while (0)

static void on_usr1(int s) { (void)s; shm[0] = 1; }

static pid_t child(int n) {
  pid_t p = fork();
  if (p < 0) RT_FAIL("fork");
  if (n == 2) setpgid(p ? p : 0, 0); /* both sides: no race with the kill below */
  if (p > 0) return p;
  for (;;) {
    if (n == 1 && shm[0]) _exit(0);
    if (n == 2 && shm[1]) _exit(0);
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
}

static char state(pid_t p) {
  char path[64], b[512];
  snprintf(path, sizeof path, "/proc/%d/stat", p);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, b, sizeof b - 1);
  if (fd >= 0) close(fd);
  if (n <= 0) return '?';
  b[n] = 0;
  char *r = strrchr(b, ')');
  return r && r[1] && r[2] ? r[2] : '?';
}

static void stopped_by(pid_t p, const char *name, int sig) {
  int st;
  if (!strcmp(rt_mode, "left") && rt_term) {
    if (waitpid(p, &st, WUNTRACED | WNOHANG) != 0) FAIL("%s reports a stop again (status 0x%x) after a dump that left it running", name, st);
    return;
  }
  if (waitpid(p, &st, WUNTRACED) != p) FAIL("waitpid %s: %s", name, strerror(errno));
  if (!WIFSTOPPED(st)) FAIL("%s not stopped (status 0x%x)", name, st);
  if (WSTOPSIG(st) != sig) FAIL("%s stopped by signal %d, want %d", name, WSTOPSIG(st), sig);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) RT_FAIL("mmap");
  struct sigaction sa = { .sa_handler = on_usr1 };
  sigaction(SIGUSR1, &sa, NULL); /* before the fork: c1 has it from its first instruction */
  c1 = child(1);
  c2 = child(2);
  kill(c1, SIGSTOP);
  kill(c2, SIGTSTP);
  stopped_by(c1, "c1", SIGSTOP);
  stopped_by(c2, "c2", SIGTSTP);
  kill(c1, SIGUSR1);
  kill(c1, SIGSTOP);
  rt_ready("c1=%d c2=%d\n", (int)c1, (int)c2);
  rt_wait_term();

  struct timespec ts = { 0, 100 * 1000 * 1000 };
  nanosleep(&ts, NULL);
  if (state(c1) != 'T' || state(c2) != 'T') FAIL("states c1 %c c2 %c, want T T", state(c1), state(c2));
  if (shm[0]) FAIL("c1's SIGUSR1 handler ran while it was stopped");
  stopped_by(c1, "c1", SIGSTOP);
  stopped_by(c2, "c2", SIGTSTP);
  shm[1] = 1;
  kill(c1, SIGCONT);
  kill(c2, SIGCONT);
  int st;
  if (waitpid(c1, &st, 0) != c1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) FAIL("c1 ended with status 0x%x", st);
  if (waitpid(c2, &st, 0) != c2 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) FAIL("c2 ended with status 0x%x", st);
  if (!shm[0]) FAIL("c1's pending SIGUSR1 was lost");
  rt_pass();
}
