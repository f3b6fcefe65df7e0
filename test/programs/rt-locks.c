/* rt-locks: file locks held across a process tree.
 *   parent: an flock write lock (LOCK_EX) on DIR/flock.lock, a POSIX write lock on bytes 0-9 of
 *           DIR/posix.lock (and a dup of that descriptor), an OFD write lock on bytes 100-199 of
 *           DIR/ofd.lock;
 *   child:  a POSIX read lock on bytes 20-29 of DIR/posix.lock, taken through the descriptor it
 *           inherited from the parent (one open file, two owners).
 * On SIGTERM the parent forks a fresh checker process (no lock of its own) that probes every lock
 * from outside (flock LOCK_NB, F_GETLK, F_OFD_GETLK on the bytes at each edge: owner, type and
 * exact range), then the child is stopped; PASS, or FAIL naming the lock that is not as it was. */
#include "rt.h"
#include <sys/file.h>
#include <sys/wait.h>

static pid_t parent, child;
static char why[512];

#define BAD(...) do { snprintf(why, sizeof why, __VA_ARGS__); return 1; } while (0)

/* F_GETLK (or F_OFD_GETLK) for a `type` lock on [start, start+len): what holds it. */
static int probe(int fd, int cmd, short type, off_t start, off_t len, struct flock *out) {
  *out = (struct flock){ .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
  return fcntl(fd, cmd, out);
}

/* A POSIX or OFD lock covering exactly [start, end] of `fd`'s file, of `type`, owned by `pid`
 * (OFD locks show pid -1). Bytes just outside are free. */
static int expect(int fd, int cmd, const char *what, short type, off_t start, off_t end, pid_t pid) {
  struct flock fl;
  /* A write probe conflicts with any lock; a read probe only with a write lock. */
  if (probe(fd, cmd, F_WRLCK, start, end - start + 1, &fl) < 0) BAD("%s: F_GETLK: %s", what, strerror(errno));
  if (fl.l_type != type || fl.l_start != start || fl.l_len != end - start + 1 || fl.l_pid != pid) {
    BAD("%s: found type %d bytes %ld+%ld pid %d (want type %d bytes %ld-%ld pid %d)", what, fl.l_type,
        (long)fl.l_start, (long)fl.l_len, fl.l_pid, type, (long)start, (long)end, pid);
  }
  if (probe(fd, cmd, F_WRLCK, start - 1 >= 0 ? start - 1 : end + 1, 1, &fl) < 0 || fl.l_type != F_UNLCK) BAD("%s: the byte before it is locked", what);
  if (probe(fd, cmd, F_WRLCK, end + 1, 1, &fl) < 0 || fl.l_type != F_UNLCK) BAD("%s: the byte after it is locked", what);
  if (probe(fd, cmd, F_RDLCK, start, 1, &fl) < 0) BAD("%s: F_GETLK: %s", what, strerror(errno));
  if ((type == F_RDLCK) != (fl.l_type == F_UNLCK)) BAD("%s: a read probe found type %d", what, fl.l_type);
  return 0;
}

static int check(void) {
  int fd = open("flock.lock", O_RDWR | O_CLOEXEC);
  if (fd < 0) BAD("open flock.lock: %s", strerror(errno));
  if (flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK) BAD("the flock write lock of the parent on flock.lock is gone");
  close(fd);
  fd = open("posix.lock", O_RDWR | O_CLOEXEC);
  if (fd < 0) BAD("open posix.lock: %s", strerror(errno));
  if (expect(fd, F_GETLK, "the POSIX write lock of the parent on posix.lock", F_WRLCK, 0, 9, parent)) return 1;
  if (expect(fd, F_GETLK, "the POSIX read lock of the child on posix.lock", F_RDLCK, 20, 29, child)) return 1;
  close(fd);
  if (strcmp(rt_mode, "noofd") != 0) {
    fd = open("ofd.lock", O_RDWR | O_CLOEXEC);
    if (fd < 0) BAD("open ofd.lock: %s", strerror(errno));
    if (expect(fd, F_OFD_GETLK, "the OFD write lock of the parent on ofd.lock", F_WRLCK, 100, 199, -1)) return 1;
    close(fd);
  }
  return 0;
}

static int lock(int fd, int cmd, short type, off_t start, off_t len) {
  struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
  return fcntl(fd, cmd, &fl);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (chdir(argv[2]) < 0) RT_FAIL("chdir");
  parent = getpid();
  int fl = open("flock.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fl < 0 || flock(fl, LOCK_EX) < 0) RT_FAIL("flock: %s", strerror(errno));
  int px = open("posix.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (px < 0 || lock(px, F_SETLK, F_WRLCK, 0, 10) < 0) RT_FAIL("POSIX lock: %s", strerror(errno));
  if (dup(px) < 0) RT_FAIL("dup");
  if (strcmp(rt_mode, "noofd") != 0) {
    int ofd = open("ofd.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ofd < 0 || lock(ofd, F_OFD_SETLK, F_WRLCK, 100, 100) < 0) RT_FAIL("OFD lock: %s", strerror(errno));
  }
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) RT_FAIL("pipe");
  child = fork();
  if (child < 0) RT_FAIL("fork: %s", strerror(errno));
  if (child == 0) {
    close(ready[0]);
    if (lock(px, F_SETLK, F_RDLCK, 20, 10) < 0) _exit(8);
    close(ready[1]);
    rt_wait_term();
    _exit(0);
  }
  close(ready[1]);
  char c;
  if (read(ready[0], &c, 1) != 0) RT_FAIL("child");
  close(ready[0]);
  rt_ready("child=%d\n", child);
  rt_wait_term();

  /* The checker is a new process: its probes see every lock of the tree as another owner. */
  int report[2];
  if (pipe2(report, O_CLOEXEC) < 0) RT_FAIL("pipe");
  pid_t checker = fork();
  if (checker < 0) RT_FAIL("fork: %s", strerror(errno));
  if (checker == 0) {
    int r = check();
    if (r) (void)!write(report[1], why, strlen(why));
    _exit(r);
  }
  close(report[1]);
  char b[512] = { 0 };
  ssize_t n = read(report[0], b, sizeof b - 1);
  int st;
  if (waitpid(checker, &st, 0) != checker) RT_FAIL("waitpid(checker): %s", strerror(errno));
  kill(child, SIGTERM);
  int cst;
  if (waitpid(child, &cst, 0) != child) RT_FAIL("waitpid(child %d): %s", child, strerror(errno));
  if (n > 0) RT_FAIL("%s", b);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) RT_FAIL("checker ended with status %#x", st);
  if (!WIFEXITED(cst) || WEXITSTATUS(cst) != 0) RT_FAIL("child ended with status %#x", cst);
  rt_pass();
}
