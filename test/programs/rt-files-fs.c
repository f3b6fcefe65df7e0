/* rt-files-fs: working directory, root and umask. Usage: rt-files-fs OUTFILE DIR
 * chroot(DIR), chdir("/sub/dir"), umask 027. On SIGTERM: the same root (inode), cwd and umask. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
#define DIE(what) do { say("FAIL: %s: %s\n", what, strerror(errno)); _exit(1); } while (0)

/* stdio on /dev/null, no inherited fds, own session, OUTFILE open (O_APPEND, close-on-exec). */
static void start(int argc, char **argv) {
  if (argc < 3) _exit(1);
  syscall(SYS_close_range, 3, ~0U, 0);
  int null = open("/dev/null", O_RDWR);
  dup2(null, 0); dup2(null, 1); dup2(null, 2);
  if (null > 2) close(null);
  if (setsid() < 0) _exit(1);
  out = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out < 0) _exit(1);
  struct sigaction sa = { .sa_handler = on_term };
  sigaction(SIGTERM, &sa, NULL);
}

/* READY, then sleep in 10 ms steps until SIGTERM. */
static void ready_and_wait(void) {
  say("READY pid=%d\n", getpid());
  while (!term) { struct timespec ts = { 0, 10000000 }; nanosleep(&ts, NULL); }
}

int main(int argc, char **argv) {
  start(argc, argv);
  char sub[512];
  snprintf(sub, sizeof sub, "%s/sub", argv[2]);
  mkdir(sub, 0700);
  snprintf(sub, sizeof sub, "%s/sub/dir", argv[2]);
  mkdir(sub, 0700);
  struct stat root, cwd;
  if (stat(argv[2], &root) || stat(sub, &cwd)) DIE("stat");
  if (chroot(argv[2]) || chdir("/sub/dir")) DIE("chroot");
  umask(027);
  ready_and_wait();
  struct stat r, c;
  char got[512];
  mode_t m = umask(0);
  if (m != 027) { say("FAIL: umask 0%o, want 027\n", m); return 0; }
  if (stat("/", &r) || r.st_ino != root.st_ino || r.st_dev != root.st_dev) { say("FAIL: root is inode %lu, want %lu (%s)\n", (unsigned long)r.st_ino, (unsigned long)root.st_ino, argv[2]); return 0; }
  if (stat(".", &c) || c.st_ino != cwd.st_ino) { say("FAIL: cwd is inode %lu, want %lu\n", (unsigned long)c.st_ino, (unsigned long)cwd.st_ino); return 0; }
  if (!getcwd(got, sizeof got) || strcmp(got, "/sub/dir")) { say("FAIL: getcwd() is %s, want /sub/dir\n", got); return 0; }
  say("PASS\n");
  return 0;
}
