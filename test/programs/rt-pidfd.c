/* rt-pidfd: pidfds of the tree and of dead processes, checked after a round trip.
 * usage: rt-pidfd OUTFILE DIR
 *   pc1, pc2  two pidfd_open()s of the child c (alive until the root kills it through pc1)
 *   pd1a/b    two pidfd_open()s of d1, a child that was killed and collected (c holds one too)
 *   pd2       a pidfd of d2, another dead child
 *   pt        a pidfd of the root's thread t (PIDFD_THREAD; only with pidfs, Linux 6.9+)
 * On SIGTERM: signal 0 through pc1/pc2 reaches c, through pd1a/pd1b/pd2 gives ESRCH and they
 * poll readable (the process ended); with pidfs pidfds of one process share an inode (pc1 = pc2,
 * pd1a = pd1b = c's pidfd of d1) and of different ones do not (pd1a != pd2); a signal sent
 * through pt with PIDFD_SIGNAL_THREAD reaches t; SIGKILL through pc1 kills c. */
#include "rt.h"
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>

#define PIDFS_MAGIC 0x50494446
#define PIDFD_THREAD O_EXCL
#define PIDFD_SIGNAL_THREAD 1
#define PIDFD_NONBLOCK O_NONBLOCK

static int pidfd_open(pid_t p, unsigned f) { return syscall(SYS_pidfd_open, p, f); }
static int pidfd_signal(int fd, int sig, unsigned f) { return syscall(SYS_pidfd_send_signal, fd, sig, NULL, f); }
static unsigned long long ino(int fd) { struct stat st; return fstat(fd, &st) ? 0 : st.st_ino; }

static volatile unsigned long long *shm; /* [0] inode of c's pidfd of d1, [1] c may exit */
static volatile pid_t got_tid;
static pid_t c;
/* A failure kills c: it would outlive the root. */
#define FAIL(...) do { if (c > 0) { kill(c, SIGKILL); waitpid(c, NULL, 0); } RT_FAIL(__VA_ARGS__); } while (0)
static void on_usr1(int s) { (void)s; got_tid = gettid(); }
static pid_t tid;
static void *thread(void *x) { (void)x; tid = gettid(); for (;;) pause(); return NULL; }

static pid_t sleeper(void) {
  pid_t p = fork();
  if (p < 0) RT_FAIL("fork: %s", strerror(errno));
  if (p == 0) for (;;) pause();
  return p;
}

static void dead_check(const char *name, int fd) {
  struct pollfd pf = { fd, POLLIN, 0 };
  if (pidfd_signal(fd, 0, 0) == 0 || errno != ESRCH) FAIL("dead pidfd %s: signal 0 %s, want ESRCH", name, errno == ESRCH ? "succeeded" : strerror(errno));
  if (poll(&pf, 1, 0) != 1 || !(pf.revents & POLLIN)) FAIL("dead pidfd %s does not poll readable", name);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) RT_FAIL("mmap");
  struct sigaction sa = { .sa_handler = on_usr1 };
  sigaction(SIGUSR1, &sa, NULL);
  int probe = pidfd_open(getpid(), 0);
  struct statfs fs;
  int pidfs = probe >= 0 && fstatfs(probe, &fs) == 0 && fs.f_type == PIDFS_MAGIC;
  close(probe);

  pid_t d1 = sleeper(), d2 = sleeper();
  int pd1a = pidfd_open(d1, 0), pd1b = pidfd_open(d1, 0), pd2 = pidfd_open(d2, 0);
  c = fork();
  if (c < 0) RT_FAIL("fork: %s", strerror(errno));
  if (c == 0) {
    int mine = pidfd_open(d1, 0);
    close(pd1a); close(pd1b); close(pd2);
    while (!shm[1]) { struct timespec ts = { 0, 5 * 1000 * 1000 }; nanosleep(&ts, NULL); shm[0] = ino(mine); }
    for (;;) pause();
  }
  while (!shm[0]) { struct timespec ts = { 0, 1000 * 1000 }; nanosleep(&ts, NULL); }
  kill(d1, SIGKILL); kill(d2, SIGKILL);
  if (waitpid(d1, NULL, 0) != d1 || waitpid(d2, NULL, 0) != d2) RT_FAIL("waitpid: %s", strerror(errno));
  int pc1 = pidfd_open(c, 0), pc2 = pidfd_open(c, PIDFD_NONBLOCK);
  if (pd1a < 0 || pd1b < 0 || pd2 < 0 || pc1 < 0 || pc2 < 0) RT_FAIL("pidfd_open: %s", strerror(errno));
  pthread_t th;
  if (pthread_create(&th, NULL, thread, NULL)) RT_FAIL("pthread_create");
  while (!tid) { struct timespec ts = { 0, 1000 * 1000 }; nanosleep(&ts, NULL); }
  int pt = pidfs ? pidfd_open(tid, PIDFD_THREAD) : -1;
  if (pidfs && pt < 0) RT_FAIL("pidfd_open(thread): %s", strerror(errno));
  rt_ready("c=%d pc1=%d pc2=%d pd1a=%d pd1b=%d pd2=%d pt=%d pidfs=%d\n", (int)c, pc1, pc2, pd1a, pd1b, pd2, pt, pidfs);
  rt_wait_term();

  if (pidfd_signal(pc1, 0, 0) != 0) FAIL("pidfd pc1 of c: signal 0: %s", strerror(errno));
  if (pidfd_signal(pc2, 0, 0) != 0) FAIL("pidfd pc2 of c: signal 0: %s", strerror(errno));
  if ((fcntl(pc2, F_GETFL) & O_NONBLOCK) == 0) FAIL("pc2 lost PIDFD_NONBLOCK");
  dead_check("pd1a", pd1a);
  dead_check("pd1b", pd1b);
  dead_check("pd2", pd2);
  if (pidfs) {
    if (ino(pc1) != ino(pc2)) FAIL("pc1 and pc2 (both of c) have inodes %llu and %llu", ino(pc1), ino(pc2));
    if (ino(pd1a) != ino(pd1b)) FAIL("pd1a and pd1b (both of d1) have inodes %llu and %llu", ino(pd1a), ino(pd1b));
    shm[0] = 0;
    while (!shm[0]) { struct timespec ts = { 0, 1000 * 1000 }; nanosleep(&ts, NULL); }
    if (shm[0] != ino(pd1a)) FAIL("c's pidfd of d1 has inode %llu, the root's %llu", (unsigned long long)shm[0], ino(pd1a));
    if (ino(pd1a) == ino(pd2)) FAIL("pd1a and pd2 (of different dead processes) share inode %llu", ino(pd2));
    if (pidfd_signal(pt, SIGUSR1, PIDFD_SIGNAL_THREAD) != 0) FAIL("pidfd pt of thread %d: %s", (int)tid, strerror(errno));
    for (int i = 0; i < 1000 && got_tid == 0; i++) { struct timespec ts = { 0, 1000 * 1000 }; nanosleep(&ts, NULL); }
    if (got_tid != tid) FAIL("the signal sent through pt reached thread %d, want %d", (int)got_tid, (int)tid);
  }
  shm[1] = 1;
  if (pidfd_signal(pc1, SIGKILL, 0) != 0) FAIL("SIGKILL through pc1: %s", strerror(errno));
  int st;
  if (waitpid(c, &st, 0) != c || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) FAIL("c ended with status 0x%x, want SIGKILL", st);
  rt_pass();
}
