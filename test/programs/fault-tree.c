/* fault-tree: the tree issue 15's fault sweeps dump again and again: three processes, each with a
 * second thread, 64 MiB of memory in all, a pipe and a unix socketpair between them.
 *   root (32 MiB) -> c1 (16 MiB; reads the pipe the root wrote 16 bytes into)
 *                 -> c2 (16 MiB; its end of a socketpair holds a datagram the root sent)
 * Every process fills its memory with a pattern of its own (one word per 4 KiB page) and starts a
 * thread that counts in a TLS variable. On SIGTERM the root forwards it; each process checks that
 * its thread still counts and has its TLS, its memory, its queued bytes and its parent, and exits
 * 0 or a failure code; the root prints PASS or FAIL naming what failed.
 * usage: fault-tree OUTFILE DIR
 * READY c1=PID c2=PID m=ROOT_MEMORY (the test corrupts a word there to see the check fail) */
#include "rt.h"
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define MIB (1024UL * 1024UL)
static const char pipe_msg[] = "fault-tree pipe!"; /* 16 bytes */
static const char sock_msg[] = "fault-tree datagram";
static __thread volatile uint64_t tls_tag, tls_count;
static volatile uint64_t published, thread_tag;
static volatile int stop;

static void sleep_ms(int ms) {
  struct timespec ts = { 0, ms * 1000L * 1000L };
  nanosleep(&ts, NULL);
}

static void *counter(void *arg) {
  tls_tag = (uintptr_t)arg;
  while (!stop) {
    tls_count++;
    published = tls_count;
    thread_tag = tls_tag;
    sleep_ms(1);
  }
  return NULL;
}

static uint64_t *fill(size_t bytes, uint64_t seed) {
  uint64_t *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) _exit(2);
  for (size_t i = 0; i < bytes / 8; i += 512) m[i] = seed ^ (i * 0x9e3779b97f4a7c15ULL);
  return m;
}

/* 0 when everything of this process holds; else a code naming what failed. */
static int check(uint64_t *m, size_t bytes, uint64_t seed, pid_t ppid, pthread_t th) {
  if (getppid() != ppid) return 1;
  for (size_t i = 0; i < bytes / 8; i += 512)
    if (m[i] != (seed ^ (i * 0x9e3779b97f4a7c15ULL))) return 2;
  /* The thread stopped counting if it does not count within 5 s (a loaded machine may not run it for a while). */
  uint64_t before = published;
  for (int i = 0; i < 500 && published == before; i++) sleep_ms(10);
  if (published == before) return 3;
  if (thread_tag != seed) return 4;  /* its TLS changed */
  stop = 1;
  pthread_join(th, NULL);
  return 0;
}

static pthread_t start_thread(uint64_t seed) {
  pthread_t th;
  if (pthread_create(&th, NULL, counter, (void *)(uintptr_t)seed) != 0) _exit(2);
  while (published == 0) sleep_ms(1);
  return th;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  pid_t root = getpid();
  int p[2], sv[2], rd[2];
  /* rd: each child says it is set up (memory filled, thread counting) before the root is READY. */
  if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0 || pipe(rd) < 0) _exit(2);
  pid_t c1 = fork();
  if (c1 == 0) {
    close(p[1]); close(sv[0]); close(sv[1]); close(rd[0]);
    uint64_t *m = fill(16 * MIB, 0xc1);
    pthread_t th = start_thread(0xc1);
    if (write(rd[1], "1", 1) != 1) _exit(2);
    close(rd[1]);
    rt_wait_term();
    int r = check(m, 16 * MIB, 0xc1, root, th);
    char b[sizeof pipe_msg] = { 0 };
    if (!r && (read(p[0], b, 16) != 16 || memcmp(b, pipe_msg, 16) != 0)) r = 5;
    _exit(r ? 10 + r : 0);
  }
  pid_t c2 = fork();
  if (c2 == 0) {
    close(p[0]); close(p[1]); close(sv[0]); close(rd[0]);
    uint64_t *m = fill(16 * MIB, 0xc2);
    pthread_t th = start_thread(0xc2);
    if (write(rd[1], "2", 1) != 1) _exit(2);
    close(rd[1]);
    rt_wait_term();
    int r = check(m, 16 * MIB, 0xc2, root, th);
    char b[64] = { 0 };
    if (!r && (recv(sv[1], b, sizeof b, MSG_DONTWAIT) != (ssize_t)sizeof sock_msg || memcmp(b, sock_msg, sizeof sock_msg) != 0)) r = 6;
    _exit(r ? 20 + r : 0);
  }
  close(p[0]); close(sv[1]); close(rd[1]);
  char got[2];
  if (read(rd[0], got, 1) != 1 || read(rd[0], got + 1, 1) != 1) _exit(2);
  close(rd[0]);
  if (write(p[1], pipe_msg, 16) != 16 || send(sv[0], sock_msg, sizeof sock_msg, 0) != (ssize_t)sizeof sock_msg) _exit(2);
  uint64_t *m = fill(32 * MIB, 0x600d);
  pthread_t th = start_thread(0x600d);
  rt_ready("c1=%d c2=%d m=%p\n", c1, c2, (void *)m);
  rt_wait_term();
  int r = check(m, 32 * MIB, 0x600d, getppid(), th);
  kill(c1, SIGTERM);
  kill(c2, SIGTERM);
  int s1 = 0, s2 = 0;
  if (waitpid(c1, &s1, 0) != c1 || waitpid(c2, &s2, 0) != c2) RT_FAIL("a child is not there to collect");
  if (r) RT_FAIL("root: check %d failed", r);
  if (!WIFEXITED(s1) || WEXITSTATUS(s1)) RT_FAIL("c1: status %#x", s1);
  if (!WIFEXITED(s2) || WEXITSTATUS(s2)) RT_FAIL("c2: status %#x", s2);
  rt_pass();
}
