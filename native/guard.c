/*
 * cryo-guard FD: what undoes a dump's or a restore's leftovers when cryo dies without undoing them
 * itself (SIGKILL, the one death it cannot catch). cryo starts it on the read end FD of a pipe and
 * tells it, record by record, what it made: processes, mounts, directories, files. When cryo ends
 * its operation it sends '.', and the guard exits doing nothing; when the pipe reaches its end
 * without one, cryo died: the guard kills the processes (through pidfds taken while they were
 * cryo's, so a PID used again is never hit), then undoes the rest, last made first.
 *
 * Records: one letter, then NUL-terminated fields.
 *   k PID               a process to kill
 *   u PATH              a mount point to unmount (detached) and remove
 *   d PATH              a directory to remove (retried: a cgroup empties as its killed processes go)
 *   f PATH DEV INO DIR  a file (or directory when DIR is 1) to remove while it is still that inode
 *   m PATH DEV INO TO   a file moved aside to PATH (a unix socket's name parked for a bind): moved
 *                       back to TO while it is still that inode and nothing took TO meanwhile
 *   i KIND ID           a System V object (shm, sem or msg) to remove
 *   s PATH DEV INO      a spool directory of cryo's own image files: its files and then it removed,
 *                       while it is still that inode (nothing below it is followed)
 *   p PID FD            a TCP socket of a dumped task (its descriptor FD) in repair mode: taken out
 *                       of it (through a pidfd taken while cryo lived), so that the task runs on
 *   n TOOL CHAIN FROM FROMPORT TO TOPORT
 *                       a TCP connection's network lock: TOOL (iptables or ip6tables, a full path)
 *                       deletes its rule in CHAIN that drops FROM:FROMPORT -> TO:TOPORT
 *   r N                 the Nth record (from 1) was undone by cryo itself
 *   .                   the operation is over: nothing to undo
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

struct action {
  char kind;
  int done;
  int pidfd;
  char *f[6];
};

static struct action *acts;
static size_t nacts, capacts;

static int fields_of(char kind) {
  switch (kind) {
  case 'k': case 'u': case 'd': case 'r': return 1;
  case 'i': case 'p': return 2;
  case 's': return 3;
  case 'f': case 'm': return 4;
  case 'n': return 6;
  default: return -1;
  }
}

static void nap_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Runs TOOL -w -D CHAIN -p tcp -s FROM --sport FROMPORT -d TO --dport TOPORT -j DROP and waits for it. */
static void unlock_net(char **f) {
  char *argv[] = {f[0], "-w", "-D", f[1], "-p", "tcp", "-s", f[2], "--sport", f[3], "-d", f[4], "--dport", f[5], "-j", "DROP", NULL};
  char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) { dup2(null, 1); dup2(null, 2); }
    execve(f[0], argv, envp);
    _exit(127);
  }
  if (pid > 0) while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

static void undo(struct action *a) {
  if (a->kind == 'p') {
    int fd = a->pidfd < 0 ? -1 : (int)syscall(__NR_pidfd_getfd, a->pidfd, atoi(a->f[1]), 0);
    int off = 0;
    if (fd >= 0) {
      setsockopt(fd, 6 /* IPPROTO_TCP */, 19 /* TCP_REPAIR */, &off, sizeof off);
      close(fd);
    }
  } else if (a->kind == 'n') {
    unlock_net(a->f);
  } else if (a->kind == 'u') {
    umount2(a->f[0], MNT_DETACH);
    rmdir(a->f[0]);
  } else if (a->kind == 'd') {
    for (int i = 0; i < 250 && rmdir(a->f[0]) != 0 && errno == EBUSY; i++) nap_ms(20);
  } else if (a->kind == 'i') {
    int id = atoi(a->f[1]);
    if (!strcmp(a->f[0], "shm")) shmctl(id, IPC_RMID, NULL);
    else if (!strcmp(a->f[0], "sem")) semctl(id, 0, IPC_RMID);
    else if (!strcmp(a->f[0], "msg")) msgctl(id, IPC_RMID, NULL);
  } else if (a->kind == 's') {
    int dfd = open(a->f[0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (dfd < 0) return;
    if (fstat(dfd, &st) != 0 || st.st_dev != strtoull(a->f[1], NULL, 10) || st.st_ino != strtoull(a->f[2], NULL, 10)) {
      close(dfd);
      return;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
      close(dfd);
      return;
    }
    /* Files only: unlinkat refuses a directory (. and .. too). */
    for (struct dirent *e; (e = readdir(d)) != NULL;) unlinkat(dfd, e->d_name, 0);
    closedir(d);
    rmdir(a->f[0]);
  } else if (a->kind == 'm') {
    struct stat st;
    if (lstat(a->f[0], &st) != 0) return;
    if (st.st_dev != strtoull(a->f[1], NULL, 10) || st.st_ino != strtoull(a->f[2], NULL, 10)) return;
    syscall(SYS_renameat2, AT_FDCWD, a->f[0], AT_FDCWD, a->f[3], RENAME_NOREPLACE);
  } else if (a->kind == 'f') {
    struct stat st;
    if (lstat(a->f[0], &st) != 0) return;
    if (st.st_dev != strtoull(a->f[1], NULL, 10) || st.st_ino != strtoull(a->f[2], NULL, 10)) return;
    if (a->f[3][0] == '1') rmdir(a->f[0]);
    else unlink(a->f[0]);
  }
}

/* Takes the records out of buf[0..len); returns how many bytes it used (a record cut short waits). */
static size_t take(char *buf, size_t len, int *disarmed) {
  size_t used = 0;
  while (used < len) {
    char kind = buf[used];
    if (kind == '.') { *disarmed = 1; return used + 1; }
    int n = fields_of(kind);
    if (n < 0) exit(2); /* not cryo's protocol: undo nothing rather than something wrong */
    size_t at = used + 1;
    char *f[6];
    for (int i = 0; i < n; i++) {
      char *end = memchr(buf + at, 0, len - at);
      if (!end) return used;
      f[i] = buf + at;
      at = (size_t)(end - buf) + 1;
    }
    if (kind == 'r') {
      size_t i = strtoull(f[0], NULL, 10);
      if (i >= 1 && i <= nacts) {
        acts[i - 1].done = 1;
        if (acts[i - 1].pidfd >= 0) close(acts[i - 1].pidfd);
        acts[i - 1].pidfd = -1;
      }
    } else {
      if (nacts == capacts) {
        capacts = capacts ? capacts * 2 : 64;
        acts = realloc(acts, capacts * sizeof *acts);
        if (!acts) exit(3);
      }
      struct action *a = &acts[nacts++];
      a->kind = kind;
      a->done = 0;
      a->pidfd = -1;
      for (int i = 0; i < n; i++) a->f[i] = strdup(f[i]);
      /* While cryo lives the process is its own (or its tree's): its PID is still that process. */
      if (kind == 'k' || kind == 'p') a->pidfd = (int)syscall(__NR_pidfd_open, atoi(f[0]), 0);
    }
    used = at;
  }
  return used;
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  int fd = atoi(argv[1]);
  /* Only cryo's death ends the guard's wait: the signals of the terminal or a tree are not for it. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGQUIT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  int disarmed = 0;
  if (!buf) return 3;
  for (;;) {
    if (len == cap) {
      cap *= 2;
      buf = realloc(buf, cap);
      if (!buf) return 3;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    size_t used = take(buf, len, &disarmed);
    if (disarmed) return 0;
    memmove(buf, buf + used, len - used);
    len -= used;
  }
  for (size_t i = 0; i < nacts; i++) {
    if (!acts[i].done && acts[i].kind == 'k' && acts[i].pidfd >= 0) syscall(__NR_pidfd_send_signal, acts[i].pidfd, SIGKILL, NULL, 0);
  }
  for (size_t i = nacts; i-- > 0;) {
    if (!acts[i].done && acts[i].kind != 'k') undo(&acts[i]);
  }
  return 0;
}
