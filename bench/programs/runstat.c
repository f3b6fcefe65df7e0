/*
 * runstat RESULT CMD [ARG...]: runs CMD, then writes "wall_ns exit maxrss_kib" to RESULT: the wall
 * time from fork to its end, its exit status (128+signal when killed) and its peak resident memory
 * (wait4's ru_maxrss; covers descendants it waited for). With RUNSTAT_TIMEOUT_S set, CMD is
 * killed (SIGKILL) after that many seconds and its exit reads 137.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t child;

static void on_alarm(int s) {
  (void)s;
  kill(child, SIGKILL);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s RESULT CMD [ARG...]\n", argv[0]); return 2; }
  syscall(SYS_close_range, 3, ~0U, 0);
  uint64_t t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 2; }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    _exit(127);
  }
  child = pid;
  const char *limit = getenv("RUNSTAT_TIMEOUT_S");
  if (limit) {
    signal(SIGALRM, on_alarm);
    alarm((unsigned)atoi(limit));
  }
  int status;
  struct rusage ru;
  pid_t w;
  while ((w = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR) continue; /* the alarm */
  if (w != pid) { perror("wait4"); return 2; }
  uint64_t wall = now_ns() - t0;
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE *f = fopen(argv[1], "we");
  if (!f) { perror(argv[1]); return 2; }
  fprintf(f, "%llu %d %ld\n", (unsigned long long)wall, code, ru.ru_maxrss);
  fclose(f);
  return 0;
}
