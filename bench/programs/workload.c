/*
 * workload: the task the bench checkpoints and restores.
 *
 *   workload REPORT KIND [ARG]
 *
 * KIND: small (a counter), anon BYTES (touched anonymous memory), sparse BYTES PERMILLE (a
 * MAP_NORESERVE mapping with PERMILLE/1000 of its pages touched), vmas N (N separate VMAs),
 * threads N (N-1 extra threads), tree N (a tree of N processes), dirty BYTES PERCENT (anon BYTES
 * of which it writes PERCENT% a second, page after page, as the migration bench wants).
 *
 * Once set up it writes "ready rss_anon=BYTES" to REPORT and runs a clock loop: every ~100 us it
 * reads CLOCK_MONOTONIC and keeps the largest gap between two readings, which is how long it was
 * frozen (from its own point of view). SIGUSR1 resets the largest gap. On SIGTERM it checks every
 * touched page still holds what it wrote there and writes "done maxgap_ns=N ok=1|0" to REPORT.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define MAGIC 0x9e3779b97f4a7c15ULL

static volatile sig_atomic_t stop_requested, reset_requested;
static const char *report_path;
static char *region;
static size_t region_pages, stride = 1;
static uint64_t counter;
/* dirty: pages written so far per second of the loop, each page's write count (offset 8 holds it too). */
static double dirty_per_sec;
static uint32_t *versions;
static size_t dirty_next;

static void on_term(int s) { (void)s; stop_requested = 1; }
static void on_usr1(int s) { (void)s; reset_requested = 1; }

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void report(const char *line) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", report_path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) _exit(3);
  if (write(fd, line, strlen(line)) < 0) _exit(3);
  close(fd);
  if (rename(tmp, report_path) != 0) _exit(3);
}

static long rss_anon(void) {
  FILE *f = fopen("/proc/self/status", "re");
  char line[256];
  long kb = 0;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "RssAnon: %ld", &kb) == 1) break;
  if (f) fclose(f);
  return kb * 1024;
}

static void touch(void) {
  for (size_t i = 0; i < region_pages; i += stride) *(uint64_t *)(region + i * PAGE) = i ^ MAGIC;
}

static int check(void) {
  for (size_t i = 0; i < region_pages; i += stride) {
    if (*(uint64_t *)(region + i * PAGE) != (i ^ MAGIC)) return 0;
    if (versions && *(uint32_t *)(region + i * PAGE + 8) != versions[i]) return 0;
  }
  return 1;
}

/* dirty: writes the pages due by now (at dirty_per_sec since `start`), each with its next version. */
static void dirty_until(uint64_t start, uint64_t t) {
  size_t due = (size_t)((double)(t - start) / 1e9 * dirty_per_sec);
  for (; dirty_next < due; dirty_next++) {
    size_t i = dirty_next % region_pages;
    *(uint32_t *)(region + i * PAGE + 8) = ++versions[i];
  }
}

static void *idle_thread(void *a) {
  (void)a;
  for (;;) pause();
  return NULL;
}

static void *map(size_t bytes, int extra) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(2); }
  return p;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: %s REPORT KIND [ARG...]\n", argv[0]); return 2; }
  syscall(SYS_close_range, 3, ~0U, 0); /* fds leaked into us by the environment */
  report_path = argv[1];
  const char *kind = argv[2];
  unsigned long long arg = argc > 3 ? strtoull(argv[3], NULL, 0) : 0;
  if (strcmp(kind, "small") == 0) {
    /* nothing beyond the counter */
  } else if (strcmp(kind, "anon") == 0) {
    region_pages = arg / PAGE;
    region = map(arg, 0);
  } else if (strcmp(kind, "dirty") == 0) {
    region_pages = arg / PAGE;
    region = map(arg, 0);
    versions = calloc(region_pages, sizeof *versions);
    dirty_per_sec = (double)region_pages * (argc > 4 ? strtod(argv[4], NULL) : 5) / 100;
  } else if (strcmp(kind, "sparse") == 0) {
    unsigned long permille = argc > 4 ? strtoul(argv[4], NULL, 0) : 50;
    region_pages = arg / PAGE;
    stride = 1000 / permille;
    region = map(arg, MAP_NORESERVE);
  } else if (strcmp(kind, "vmas") == 0) {
    /* 2N pages; every other page read-only, so each page is a VMA of its own. */
    region_pages = 2 * arg;
    region = map(region_pages * PAGE, 0);
    touch();
    for (size_t i = 1; i < region_pages; i += 2)
      if (mprotect(region + i * PAGE, PAGE, PROT_READ) != 0) { perror("mprotect"); return 2; }
  } else if (strcmp(kind, "threads") == 0) {
    for (unsigned long long i = 1; i < arg; i++) {
      pthread_t t;
      pthread_attr_t at;
      pthread_attr_init(&at);
      pthread_attr_setstacksize(&at, 64 * 1024);
      if (pthread_create(&t, &at, idle_thread, NULL) != 0) { perror("pthread_create"); return 2; }
    }
  } else if (strcmp(kind, "tree") == 0) {
    pid_t root = getpid();
    for (unsigned long long i = 1; i < arg; i++) {
      pid_t c = fork();
      if (c < 0) { perror("fork"); return 2; }
      if (c == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* the tree ends with its root */
        if (getppid() != root) _exit(0);  /* ...also when the root ended before this line */
        for (;;) pause();
      }
    }
  } else {
    fprintf(stderr, "workload: unknown kind %s\n", kind);
    return 2;
  }
  if (region && strcmp(kind, "vmas") != 0) touch();

  signal(SIGTERM, on_term);
  signal(SIGUSR1, on_usr1);
  char line[256];
  snprintf(line, sizeof line, "ready rss_anon=%ld\n", rss_anon());
  report(line);

  uint64_t prev = now_ns(), maxgap = 0, start = prev;
  const struct timespec tick = {0, 100000};
  while (!stop_requested) {
    nanosleep(&tick, NULL);
    uint64_t t = now_ns();
    if (reset_requested) { reset_requested = 0; maxgap = 0; }
    else if (t - prev > maxgap) maxgap = t - prev;
    if (t - prev > 5000000) start += t - prev; /* dirty: no catching up after a freeze (a gap of its own) */
    prev = t;
    counter++;
    if (versions) dirty_until(start, t);
  }
  int ok = region ? check() : counter > 0;
  snprintf(line, sizeof line, "done maxgap_ns=%llu ok=%d\n", (unsigned long long)maxgap, ok);
  report(line);
  return 0;
}
