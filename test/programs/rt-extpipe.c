/* rt-extpipe: a pipe whose read end a process outside the dumped tree holds.
 * The program makes a pipe and a grandchild that keeps both ends; its child exits at once,
 * so the grandchild is adopted elsewhere (the test, a subreaper) and is not part of the tree. The
 * grandchild appends whatever it reads to DIR/outside.txt. The program keeps the write end; on
 * SIGTERM it writes "ping" into it: PASS when the write went through, FAIL (EPIPE) when nobody
 * reads the pipe any more (a restore that made a new pipe instead of taking the outside one). */
#include "rt.h"
#include <sys/wait.h>

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (chdir(argv[2]) < 0) RT_FAIL("chdir");
  signal(SIGPIPE, SIG_IGN);
  int p[2];
  if (pipe(p) < 0) RT_FAIL("pipe");
  int info[2];
  if (pipe(info) < 0) RT_FAIL("pipe");
  pid_t c = fork();
  if (c < 0) RT_FAIL("fork");
  if (c == 0) {
    pid_t g = fork();
    if (g != 0) _exit(g < 0);
    /* Its own session: a process of the dumped one would keep the dumped PID in use (as a session id). */
    if (setsid() < 0) _exit(1);
    /* It keeps the write end too: the pipe outlives the dumped writer (no EOF while it is away). */
    close(info[0]);
    pid_t me = getpid();
    if (write(info[1], &me, sizeof me) != sizeof me) _exit(1);
    close(info[1]); close(rt_out);
    char b[256];
    ssize_t n;
    while ((n = read(p[0], b, sizeof b)) > 0) {
      int o = open("outside.txt", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (o < 0 || write(o, b, n) != n) _exit(1);
      close(o);
    }
    _exit(0);
  }
  close(p[0]); close(info[1]);
  pid_t holder;
  if (read(info[0], &holder, sizeof holder) != sizeof holder) RT_FAIL("holder");
  close(info[0]);
  int st;
  if (waitpid(c, &st, 0) != c) RT_FAIL("waitpid");
  rt_ready("holder=%d hfd=%d wfd=%d\n", holder, p[0], p[1]);
  rt_wait_term();
  if (write(p[1], "ping", 4) != 4) RT_FAIL("write to the pipe: %s", strerror(errno));
  rt_pass();
}
