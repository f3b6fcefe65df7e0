// Sets up known state for the /proc parsers' end-to-end test, prints what it
// set up (key=value lines, then READY) and waits for SIGTERM; exits 0 then.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define NPAGES 16
#define HUGE (2UL << 20)

static void die(const char *what) { perror(what); exit(2); }

// Close every descriptor above 2 that the environment leaked into us.
static void close_inherited(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) die("opendir");
  int self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] != '.' && fd > 2 && fd != self) close(fd);
  }
  closedir(d);
}

static volatile sig_atomic_t got_term;
static void on_term(int sig) { (void)sig; got_term = 1; }

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/tmp";
  close_inherited();
  // Start from default dispositions (a background shell leaves SIGINT/SIGQUIT ignored).
  for (int sig = 1; sig < 32; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  umask(027);
  if (prctl(PR_SET_NAME, "pr) (x", 0, 0, 0)) die("prctl");

  // An anonymous private mapping at a known address: pages 0,1,2,5,10,11 touched.
  unsigned char *m = mmap((void *)0x7e0000000000UL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (m == MAP_FAILED) die("mmap");
  int touched[] = {0, 1, 2, 5, 10, 11};
  for (unsigned i = 0; i < sizeof touched / sizeof touched[0]; i++) m[touched[i] * PAGE] = 1 + i;
  printf("map=%lx-%lx\n", (unsigned long)m, (unsigned long)(m + NPAGES * PAGE));
  printf("touched=0,1,2,5,10,11\n");

  // PROT_NONE and anonymous shared.
  void *none = mmap(NULL, 4 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *shm = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (none == MAP_FAILED || shm == MAP_FAILED) die("mmap2");
  shm[0] = 1;
  printf("none=%lx\nshm=%lx\n", (unsigned long)none, (unsigned long)shm);

  // A transparent huge page: a 2 MiB aligned region with MADV_HUGEPAGE.
  char *raw = mmap(NULL, 2 * HUGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) die("mmap3");
  char *thp = (char *)(((unsigned long)raw + HUGE - 1) & ~(HUGE - 1));
  madvise(thp, HUGE, MADV_HUGEPAGE);
  memset(thp, 7, HUGE);
  printf("thp=%lx\n", (unsigned long)thp);

  // A file with a space in its name, mapped privately with a dirty page, then deleted.
  char path[4096];
  snprintf(path, sizeof path, "%s/proc state %d.dat", dir, getpid());
  int ffd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (ffd < 0 || ftruncate(ffd, 2 * PAGE)) die("file");
  char *fm = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, ffd, 0);
  if (fm == MAP_FAILED) die("mmap4");
  fm[0] = 'x';
  if (flock(ffd, LOCK_EX)) die("flock");
  unlink(path);
  printf("file=%s\nfilemap=%lx\nfilefd=%d\n", path, (unsigned long)fm, ffd);

  // A memfd mapping shared.
  int mfd = memfd_create("cryo test", 0);
  if (mfd < 0 || ftruncate(mfd, PAGE)) die("memfd");
  char *mm = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
  if (mm == MAP_FAILED) die("mmap5");
  mm[0] = 1;
  printf("memfdmap=%lx\nmemfd=%d\n", (unsigned long)mm, mfd);

  int efd = eventfd(5, EFD_NONBLOCK);
  if (efd < 0) die("eventfd");
  eventfd_write(efd, 37);  // counter 42
  printf("eventfd=%d\neventfd_count=42\n", efd);

  int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
  struct itimerspec its = {.it_interval = {7, 0}, .it_value = {1000, 0}};
  if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL)) die("timerfd");
  printf("timerfd=%d\ntimerfd_clock=%d\ntimerfd_interval_s=7\n", tfd, CLOCK_MONOTONIC);

  sigset_t sfmask;
  sigemptyset(&sfmask);
  sigaddset(&sfmask, SIGUSR2);
  sigaddset(&sfmask, SIGWINCH);
  int sfd = signalfd(-1, &sfmask, SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  printf("signalfd=%d\nsignalfd_mask=%llx\n", sfd, (1ULL << (SIGUSR2 - 1)) | (1ULL << (SIGWINCH - 1)));

  int ifd = inotify_init1(0);
  int wd = inotify_add_watch(ifd, dir, IN_CREATE | IN_DELETE);
  if (ifd < 0 || wd < 0) die("inotify");
  struct stat dst;
  stat(dir, &dst);
  printf("inotify=%d\ninotify_wd=%d\ninotify_mask=%x\ninotify_ino=%lx\n", ifd, wd, IN_CREATE | IN_DELETE,
         (unsigned long)dst.st_ino);

  int p[2];
  if (pipe(p)) die("pipe");
  struct stat pst;
  fstat(p[0], &pst);
  printf("pipe_r=%d\npipe_w=%d\npipe_ino=%lu\n", p[0], p[1], (unsigned long)pst.st_ino);

  int epfd = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1234};
  if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, efd, &ev)) die("epoll");
  printf("epoll=%d\n", epfd);

  int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
  if (pidfd < 0) die("pidfd");
  printf("pidfd=%d\n", pidfd);

  // A POSIX timer on CLOCK_REALTIME that signals SIGRTMIN+1.
  struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGRTMIN + 1};
  sev.sigev_value.sival_ptr = (void *)0xabc;
  timer_t tid;
  if (timer_create(CLOCK_REALTIME, &sev, &tid)) die("timer_create");
  struct itimerspec pts = {.it_value = {3600, 0}};
  timer_settime(tid, 0, &pts, NULL);
  printf("posix_timer_id=%ld\nposix_timer_signal=%d\n", (long)(intptr_t)tid, SIGRTMIN + 1);

  // Blocked: SIGUSR1, SIGUSR2, SIGWINCH; pending: SIGUSR1 (thread) via tgkill.
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGUSR2);
  sigaddset(&block, SIGWINCH);
  sigprocmask(SIG_BLOCK, &block, NULL);
  syscall(SYS_tgkill, getpid(), getpid(), SIGUSR1);
  kill(getpid(), SIGWINCH);  // process-wide pending
  printf("sigblk=%llx\nsigpnd=%llx\nshdpnd=%llx\n",
         (1ULL << (SIGUSR1 - 1)) | (1ULL << (SIGUSR2 - 1)) | (1ULL << (SIGWINCH - 1)), 1ULL << (SIGUSR1 - 1),
         1ULL << (SIGWINCH - 1));

  struct sigaction sa = {.sa_handler = on_term};
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGHUP, SIG_IGN);
  printf("sigcgt=%llx\nsigign=%llx\n", 1ULL << (SIGTERM - 1), 1ULL << (SIGHUP - 1));

  printf("READY\n");
  fflush(stdout);
  while (!got_term) pause();

  // Check that the state we set up is still intact.
  for (unsigned i = 0; i < sizeof touched / sizeof touched[0]; i++)
    if (m[touched[i] * PAGE] != 1 + i) { printf("FAIL memory\n"); return 1; }
  printf("PASS\n");
  return 0;
}
