/* rt-fdt-shared: processes sharing one descriptor table (CLONE_FILES) still share it after restore.
 * usage: rt-fdt-shared OUTFILE DIR [unshared|fs]
 *   a  cloned with CLONE_FILES (shares the root's table)
 *   g  a's child, cloned with CLONE_FILES (the same table)
 *   b  a plain fork of the root (a copy of the table: later changes are not its own)
 * Before READY the root opens DIR/f at fd 90, reads 2 bytes (offset 2) and opens /dev/null at 91.
 * On SIGTERM the root opens /dev/null at fd 100 and tells the children to look: a and g must see
 * fd 100, b must not; all three must hold fd 90 at offset 2; a closes 91 and the root must find
 * it gone. Mode "unshared": b is cloned with CLONE_FILES too and the root leaves the table
 * (unshare): a and b share a table their parent does not, which cryo refuses to dump. Mode "fs":
 * b is cloned with CLONE_FS (the root's cwd and umask, a table of its own), which cryo refuses too. */
#include "rt.h"
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>

static volatile int *shm; /* [0] go, [1] a, [2] g, [3] b: 1 sees fd 100, 2 does not, 3 fd 90 wrong; [4] a closed 91 */
static pid_t a, b;

static int look(int slot) {
  while (!shm[0]) {
    struct timespec ts = { 0, 5 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  int ok90 = lseek(90, 0, SEEK_CUR) == 2;
  shm[slot] = !ok90 ? 3 : fcntl(100, F_GETFD) != -1 ? 1 : 2;
  return 0;
}

static char stack_g[65536] __attribute__((aligned(16)));
static int run_g(void *x) { (void)x; _exit(look(2)); }

static char stack_a[65536] __attribute__((aligned(16)));
static int run_a(void *x) {
  (void)x;
  pid_t g = clone(run_g, stack_g + sizeof stack_g, CLONE_FILES | SIGCHLD, NULL);
  if (g < 0) _exit(5);
  shm[5] = 1; /* g exists: the root may say READY */
  look(1);
  if (close(91) == 0) shm[4] = 1;
  int st;
  if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(6);
  _exit(0);
}

static char stack_b[65536] __attribute__((aligned(16)));
static int run_b(void *x) { (void)x; _exit(look(3)); }

static const char *what(int v) { return v == 1 ? "sees fd 100" : v == 2 ? "does not see fd 100" : v == 3 ? "has no fd 90 at offset 2" : "did not look"; }

int main(int argc, char **argv) {
  rt_start(argc, argv);
  shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) RT_FAIL("mmap");
  char path[4096], two[2];
  snprintf(path, sizeof path, "%s/f", argv[2]);
  int fd = open(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0 || write(fd, "abcd", 4) != 4 || lseek(fd, 0, SEEK_SET) != 0 || read(fd, two, 2) != 2) RT_FAIL("file %s: %s", path, strerror(errno));
  if (dup2(fd, 90) != 90 || close(fd) != 0) RT_FAIL("dup2: %s", strerror(errno));
  int null = open("/dev/null", O_RDONLY);
  if (null < 0 || dup2(null, 91) != 91 || close(null) != 0) RT_FAIL("/dev/null: %s", strerror(errno));
  a = clone(run_a, stack_a + sizeof stack_a, CLONE_FILES | SIGCHLD, NULL);
  if (a < 0) RT_FAIL("clone: %s", strerror(errno));
  int unshared = !strcmp(rt_mode, "unshared");
  int fs = !strcmp(rt_mode, "fs");
  b = clone(run_b, stack_b + sizeof stack_b, (unshared ? CLONE_FILES : fs ? CLONE_FS : 0) | SIGCHLD, NULL);
  if (b < 0) RT_FAIL("clone b: %s", strerror(errno));
  if (unshared && unshare(CLONE_FILES) != 0) RT_FAIL("unshare: %s", strerror(errno));
  /* Not READY before the grandchild exists: a dump under load could find a without g. */
  while (!shm[5]) {
    struct timespec ts = { 0, 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  rt_ready("a=%d b=%d\n", (int)a, (int)b);
  rt_wait_term();

  int n = open("/dev/null", O_RDONLY);
  if (n < 0 || dup2(n, 100) != 100 || close(n) != 0) RT_FAIL("fd 100: %s", strerror(errno));
  shm[0] = 1;
  int st;
  if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st) != 0) RT_FAIL("a ended with status 0x%x", st);
  if (waitpid(b, &st, 0) != b || !WIFEXITED(st) || WEXITSTATUS(st) != 0) RT_FAIL("b ended with status 0x%x", st);
  if (unshared) {
    /* The tree the refused dump left running: the root's table is its own now. */
    if (shm[1] != 2 || shm[3] != 2 || fcntl(91, F_GETFD) == -1) RT_FAIL("unshared: a %s, b %s, fd 91 %s", what(shm[1]), what(shm[3]), fcntl(91, F_GETFD) == -1 ? "closed" : "open");
    rt_pass();
  }
  if (shm[1] != 1) RT_FAIL("a %s, want it to see fd 100 (the root's table)", what(shm[1]));
  if (shm[2] != 1) RT_FAIL("g %s, want it to see fd 100 (the root's table)", what(shm[2]));
  if (shm[3] != 2) RT_FAIL("b %s, want it not to see fd 100 (a table of its own)", what(shm[3]));
  if (!shm[4] || fcntl(91, F_GETFD) != -1) RT_FAIL("fd 91, closed by a, is %s in the root", shm[4] ? "still open" : "not closed by a at all; and open");
  if (lseek(90, 0, SEEK_CUR) != 2) RT_FAIL("fd 90 is at offset %ld, want 2", (long)lseek(90, 0, SEEK_CUR));
  rt_pass();
}
