/* rt-mixed: a process whose child runs the other x86 ABI (a 64-bit parent with an ia32 child, or,
 * built for ia32, the other way round), dumped and restored as one tree.
 * usage: rt-mixed OUTFILE DIR CHILD
 * Forks and execs CHILD (an rt-* program) with OUTFILE.child and DIR, waits for its
 * READY, keeps a value of its own, then waits for SIGTERM: it passes SIGTERM on and checks the
 * child said PASS and exited 0, and that its own value is intact.
 * READY child=PID */
#include "rt.h"
#include <stdint.h>
#include <sys/wait.h>

static volatile uint64_t own = 0x6464646464646464ull;

int main(int argc, char **argv) {
  if (argc < 4) _exit(2);
  char childOut[4096];
  snprintf(childOut, sizeof childOut, "%s.child", argv[1]);
  rt_start(argc, argv);
  pid_t child = fork();
  if (child < 0) RT_FAIL("fork: %s", strerror(errno));
  if (child == 0) {
    execl(argv[3], argv[3], childOut, argv[2], (char *)NULL);
    _exit(127);
  }
  char buf[4096] = "";
  for (int i = 0; i < 1000 && !strstr(buf, "READY"); i++) {
    struct timespec ts = { 0, 10 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    int fd = open(childOut, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n < 0 ? 0 : n] = 0;
  }
  if (!strstr(buf, "READY")) RT_FAIL("the child never got ready");
  rt_ready("child=%d\n", (int)child);
  rt_wait_term();
  kill(child, SIGTERM);
  int st;
  if (waitpid(child, &st, 0) != child) RT_FAIL("waitpid: %s", strerror(errno));
  int fd = open(childOut, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  if (fd >= 0) close(fd);
  buf[n < 0 ? 0 : n] = 0;
  /* The last line is this run's verdict (an earlier restore of the same images may have left one). */
  size_t len = strlen(buf);
  while (len > 0 && buf[len - 1] == '\n') buf[--len] = 0;
  const char *verdict = strrchr(buf, '\n');
  verdict = verdict ? verdict + 1 : "";
  RT_CHECK(strncmp(verdict, "PASS", 4) == 0, "the child said: %.200s", verdict);
  RT_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child ended with status 0x%x", st);
  RT_CHECK(own == 0x6464646464646464ull, "the parent's own value is 0x%llx", (unsigned long long)own);
  rt_pass();
}
