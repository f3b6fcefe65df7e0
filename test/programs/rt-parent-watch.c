/* rt-parent-watch: a child that acts as soon as its parent is gone, as a PostgreSQL backend does
 * (it then exits by itself and removes its shared memory): a restore that fails after the child
 * was resumed must kill it before its parent, or it runs and acts.
 * usage: rt-parent-watch OUTFILE DIR
 * The parent holds a pipe's write end; the child waits in read() on the read end, and at EOF (its
 * parent gone) unlinks DIR/marker. On SIGTERM the parent writes one byte (the child exits leaving
 * the marker), collects the child, and checks DIR/marker is there.
 * READY child=PID */
#include "rt.h"
#include <sys/wait.h>

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char marker[4096];
  snprintf(marker, sizeof marker, "%s/marker", argv[2]);
  int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) RT_FAIL("marker: %s", strerror(errno));
  close(fd);
  int p[2];
  if (pipe2(p, O_CLOEXEC)) RT_FAIL("pipe2: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) RT_FAIL("fork: %s", strerror(errno));
  if (child == 0) {
    close(p[1]);
    char c;
    ssize_t n;
    do n = read(p[0], &c, 1); while (n < 0 && errno == EINTR);
    if (n == 0) unlink(marker); /* the parent is gone */
    _exit(0);
  }
  close(p[0]);
  rt_ready("child=%d\n", (int)child);
  rt_wait_term();
  if (write(p[1], "x", 1) != 1) RT_FAIL("write: %s", strerror(errno));
  int st;
  if (waitpid(child, &st, 0) != child) RT_FAIL("waitpid: %s", strerror(errno));
  RT_CHECK(access(marker, F_OK) == 0, "%s is gone: the child saw its parent die", marker);
  rt_pass();
}
