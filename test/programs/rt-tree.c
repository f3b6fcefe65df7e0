/* rt-tree: a process tree with shared state.
 *   root (session and group leader) -> c1 (root's group) -> g1 (grandchild, root's group)
 *                                   -> c2 (its own group; holds a POSIX write lock on DIR/posix.lock bytes 0-9)
 *                                   -> c3 (the group of its sibling c2; holds the write end of a pipe with 16 bytes)
 *                                   -> c4 (exits at once with code 7: a zombie the root collects after restore)
 *                                   -> c5, c6 (zombies killed by SIGKILL and by a SIGSEGV fault)
 * c2 holds the pipe's read end. root and c1 share one open file description of DIR/shared.txt (one
 * offset); c1 holds an flock on DIR/flock.lock. A 2-page shared anonymous mapping made before the
 * forks is seen by all. Modes: "nolocks" leaves the file locks out.
 * On SIGTERM the root checks the locks and the groups, forwards SIGTERM to its children, each checks
 * its own state (parent, group, session, shared memory, pipe, offset) and exits 0 or a failure code,
 * and the root prints PASS or FAIL naming what failed. */
#include "rt.h"
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

static volatile unsigned *shm;
static pid_t root, c1, c2, c3, c4, c5, c6, g1;
static int shared_fd, pipefd[2];
static const char pipe_msg[] = "tree pipe data!!"; /* 16 bytes */
static int locks = 1;

static void wait_term(void) { rt_wait_term(); }

/* Checks what every live process has: session, shared memory. */
static int common(pid_t ppid, pid_t pgrp) {
  if (getppid() != ppid) return 1;
  if (getpgrp() != pgrp) return 2;
  if (getsid(0) != root) return 3;
  if (shm[0] != 0x7ee7ee) return 4;
  return 0;
}

static int run_g1(void) {
  wait_term();
  int r = common(c1, root);
  if (r) return 20 + r;
  shm[3] = 0x61;
  return 0;
}

static int run_c1(void) {
  c1 = getpid();
  g1 = fork();
  if (g1 == 0) _exit(run_g1());
  if (g1 < 0) return 9;
  shm[10] = g1;
  if (locks) {
    int fd = open("flock.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) return 8;
  }
  close(pipefd[0]); close(pipefd[1]);
  shm[11] = 1; /* ready */
  wait_term();
  int r = common(root, root);
  if (r) return 10 + r;
  /* The shared offset moves for the root too (without changing the file: restores repeat). */
  if (lseek(shared_fd, 1, SEEK_CUR) != 11) return 15;
  kill(g1, SIGTERM);
  int st;
  if (waitpid(g1, &st, 0) != g1) return 16;
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return WIFEXITED(st) ? WEXITSTATUS(st) : 17;
  if (shm[3] != 0x61) return 18;
  shm[1] = 0xc1;
  return 0;
}

static int run_c2(void) {
  if (setpgid(0, 0) < 0) return 9;
  close(pipefd[1]);
  if (locks) {
    int fd = open("posix.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    if (fd < 0 || fcntl(fd, F_SETLK, &fl) < 0) return 8;
  }
  shm[12] = 1;
  wait_term();
  int r = common(root, getpid());
  if (r) return 30 + r;
  char b[64];
  ssize_t n = 0, k;
  while (n < 16 && (k = read(pipefd[0], b + n, sizeof b - n)) > 0) n += k;
  if (n != 16 || memcmp(b, pipe_msg, 16)) return 35;
  shm[2] = 0xc2;
  return 0;
}

static int run_c3(void) {
  for (int i = 0; i < 500 && !shm[12]; i++) usleep(10000); /* c2 has made its group */
  if (setpgid(0, c2) < 0) return 9;
  close(pipefd[0]);
  if (write(pipefd[1], pipe_msg, 16) != 16) return 8;
  shm[13] = 1;
  wait_term();
  int r = common(root, c2);
  if (r) return 40 + r;
  shm[4] = 0xc3;
  return 0;
}

static pid_t spawn(int (*fn)(void)) {
  pid_t p = fork();
  if (p == 0) _exit(fn());
  if (p < 0) RT_FAIL("fork: %s", strerror(errno));
  return p;
}

static void reap(pid_t p, const char *name, int want) {
  int st;
  if (waitpid(p, &st, 0) != p) RT_FAIL("waitpid(%s %d): %s", name, p, strerror(errno));
  if (!WIFEXITED(st)) RT_FAIL("%s %d ended with status %#x", name, p, st);
  if (WEXITSTATUS(st) != want) RT_FAIL("%s %d exited with %d (want %d)", name, p, WEXITSTATUS(st), want);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (chdir(argv[2]) < 0) RT_FAIL("chdir");
  locks = strcmp(rt_mode, "nolocks") != 0;
  root = getpid();
  shm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) RT_FAIL("mmap");
  shm[0] = 0x7ee7ee;
  shared_fd = open("shared.txt", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (shared_fd < 0 || write(shared_fd, "0123456789", 10) != 10) RT_FAIL("shared.txt");
  if (pipe2(pipefd, O_CLOEXEC) < 0) RT_FAIL("pipe");
  c1 = spawn(run_c1);
  c2 = spawn(run_c2);
  c3 = spawn(run_c3);
  c4 = fork();
  if (c4 == 0) _exit(7);
  c5 = fork();
  if (c5 == 0) { kill(getpid(), SIGKILL); _exit(1); }
  c6 = fork();
  if (c6 == 0) {
    struct rlimit no = { 0, 0 };
    setrlimit(RLIMIT_CORE, &no);
    *(volatile int *)(long)argc = 0; /* argc is a small number: an address that faults */
    _exit(1);
  }
  close(pipefd[0]); close(pipefd[1]);
  siginfo_t si;
  if (waitid(P_PID, c4, &si, WEXITED | WNOWAIT) < 0 || waitid(P_PID, c5, &si, WEXITED | WNOWAIT) < 0 || waitid(P_PID, c6, &si, WEXITED | WNOWAIT) < 0) RT_FAIL("waitid");
  for (int i = 0; i < 500 && !(shm[11] && shm[12] && shm[13]); i++) usleep(10000);
  if (!(shm[11] && shm[12] && shm[13])) RT_FAIL("children did not get ready");
  rt_ready("c1=%d c2=%d c3=%d c4=%d c5=%d c6=%d g1=%d\n", c1, c2, c3, c4, c5, c6, shm[10]);
  rt_wait_term();

  if (getpgid(c1) != root || getpgid(c2) != c2 || getpgid(c3) != c2 || getpgid(shm[10]) != root) {
    RT_FAIL("process groups: c1 %d c2 %d c3 %d g1 %d", getpgid(c1), getpgid(c2), getpgid(c3), getpgid(shm[10]));
  }
  if (locks) {
    int fd = open("flock.lock", O_RDWR | O_CLOEXEC);
    if (fd < 0) RT_FAIL("open flock.lock");
    if (flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) RT_FAIL("the flock of c1 is gone");
    close(fd);
    fd = open("posix.lock", O_RDWR | O_CLOEXEC);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    if (fd < 0 || fcntl(fd, F_GETLK, &fl) < 0) RT_FAIL("F_GETLK");
    if (fl.l_type != F_WRLCK || fl.l_pid != c2 || fl.l_start != 0 || fl.l_len != 10) {
      RT_FAIL("the POSIX lock: type %d pid %d start %ld len %ld (want c2 %d)", fl.l_type, fl.l_pid, (long)fl.l_start, (long)fl.l_len, c2);
    }
    close(fd);
  }
  off_t before = lseek(shared_fd, 0, SEEK_CUR);
  kill(c1, SIGTERM); kill(c2, SIGTERM); kill(c3, SIGTERM);
  reap(c1, "c1", 0);
  reap(c2, "c2", 0);
  reap(c3, "c3", 0);
  reap(c4, "zombie c4", 7);
  int st;
  if (waitpid(c5, &st, 0) != c5 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) RT_FAIL("zombie c5 %d: status %#x, want killed by SIGKILL", c5, st);
  if (waitpid(c6, &st, 0) != c6 || !WIFSIGNALED(st) || WTERMSIG(st) != SIGSEGV) RT_FAIL("zombie c6 %d: status %#x, want killed by SIGSEGV", c6, st);
  if (shm[1] != 0xc1 || shm[2] != 0xc2 || shm[4] != 0xc3) RT_FAIL("shared memory: %x %x %x", shm[1], shm[2], shm[4]);
  off_t after = lseek(shared_fd, 0, SEEK_CUR);
  if (before != 10 || after != 11) RT_FAIL("shared offset: %ld then %ld (want 10 then 11)", (long)before, (long)after);
  rt_pass();
}
