/* rt-files-reg: regular files with their path, access mode, O_APPEND, close-on-exec, offset,
 * permission bits and a dup sharing one offset. Usage: rt-files-reg OUTFILE DIR
 * Writes "READY" to OUTFILE, waits for SIGTERM, then checks every descriptor and appends
 * "PASS" or "FAIL: reason" (the first difference found). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t term;
static int out = -1;
static void on_term(int s) { (void)s; term = 1; }
static void say(const char *fmt, ...) {
  char b[1024]; va_list ap; va_start(ap, fmt); int n = vsnprintf(b, sizeof b, fmt, ap); va_end(ap);
  if (write(out, b, n) != n) _exit(3);
}
#define FAIL(...) do { say("FAIL: " __VA_ARGS__); say("\n"); return 1; } while (0)

struct want { const char *name; int fd; int flags; off_t pos; int cloexec; mode_t mode; char path[512]; };
static struct want w[] = {
  { "rw.txt", 5, O_RDWR, 7, 0, 0640, "" },
  { "append.log", 6, O_WRONLY | O_APPEND, 0, 0, 0600, "" },
  { "ro.txt", 9, O_RDONLY, 3, 1, 0444, "" },
  { "wo.txt", 12, O_WRONLY, 11, 1, 0620, "" },
};
#define N (int)(sizeof w / sizeof w[0])
#define DUPFD 20 /* a dup of rw.txt: one open file, one offset */

static int check(void) {
  for (int i = 0; i < N; i++) {
    struct want *x = &w[i];
    int fl = fcntl(x->fd, F_GETFL);
    if (fl < 0) FAIL("fd %d (%s) is not open: %s", x->fd, x->name, strerror(errno));
    if ((fl & (O_ACCMODE | O_APPEND)) != x->flags) FAIL("fd %d (%s) flags 0%o, want 0%o", x->fd, x->name, fl & (O_ACCMODE | O_APPEND), x->flags);
    int cl = fcntl(x->fd, F_GETFD) & FD_CLOEXEC;
    if (cl != x->cloexec) FAIL("fd %d (%s) close-on-exec %d, want %d", x->fd, x->name, cl, x->cloexec);
    off_t pos = lseek(x->fd, 0, SEEK_CUR);
    if (pos != x->pos) FAIL("fd %d (%s) offset %lld, want %lld", x->fd, x->name, (long long)pos, (long long)x->pos);
    char link[64], got[600]; snprintf(link, sizeof link, "/proc/self/fd/%d", x->fd);
    ssize_t n = readlink(link, got, sizeof got - 1);
    got[n < 0 ? 0 : n] = 0;
    if (strcmp(got, x->path) != 0) FAIL("fd %d is %s, want %s", x->fd, got, x->path);
    struct stat a, b;
    if (fstat(x->fd, &a) || stat(x->path, &b)) FAIL("stat %s: %s", x->path, strerror(errno));
    if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) FAIL("fd %d is not the file %s", x->fd, x->path);
    if ((a.st_mode & 07777) != x->mode) FAIL("fd %d (%s) mode 0%o, want 0%o", x->fd, x->name, a.st_mode & 07777, x->mode);
  }
  /* The dup shares the offset: moving one moves the other. */
  if (lseek(DUPFD, 0, SEEK_CUR) != 7) FAIL("fd %d (dup of rw.txt) offset %lld, want 7", DUPFD, (long long)lseek(DUPFD, 0, SEEK_CUR));
  char c;
  if (read(5, &c, 1) != 1 || c != '7') FAIL("rw.txt at offset 7 reads '%c', want '7'", c);
  if (lseek(DUPFD, 0, SEEK_CUR) != 8) FAIL("fd %d does not share its offset with fd 5 (dup lost)", DUPFD);
  struct stat st;
  if (write(6, "x", 1) != 1 || fstat(6, &st) || lseek(6, 0, SEEK_CUR) != st.st_size) FAIL("append.log does not append");
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) return 1;
  syscall(SYS_close_range, 3, ~0U, 0);
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0); dup2(null, 1); dup2(null, 2);
  if (null > 2) close(null);
  if (setsid() < 0) return 1;
  out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) return 1;
  for (int i = 0; i < N; i++) {
    struct want *x = &w[i];
    snprintf(x->path, sizeof x->path, "%s/%s", argv[2], x->name);
    int fd = open(x->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "0123456789abcdef", 16) != 16 || close(fd)) { say("FAIL: create %s\n", x->path); return 1; }
    if (strcmp(x->name, "append.log") == 0 && truncate(x->path, 7)) return 1;
    chmod(x->path, x->mode);
    fd = open(x->path, x->flags | (x->cloexec ? O_CLOEXEC : 0));
    if (fd < 0 || (fd != x->fd && dup3(fd, x->fd, x->cloexec ? O_CLOEXEC : 0) != x->fd)) { say("FAIL: open %s: %s\n", x->path, strerror(errno)); return 1; }
    if (fd != x->fd) close(fd);
    if (strcmp(x->name, "append.log") == 0) { if (write(x->fd, "y", 1) != 1) return 1; x->pos = 8; }
    else lseek(x->fd, x->pos, SEEK_SET);
  }
  /* append.log: 7 bytes + "y" = offset 8, the check appends one more */
  w[1].pos = 8;
  dup2(5, DUPFD);
  struct sigaction sa = { .sa_handler = on_term };
  sigaction(SIGTERM, &sa, NULL);
  say("READY pid=%d\n", getpid());
  while (!term) { struct timespec ts = { 0, 10000000 }; nanosleep(&ts, NULL); }
  if (check() == 0) say("PASS\n");
  return 0;
}
