/* rt-fanotify: a fanotify group keeps its flags and its marks (zdtm's fanotify00).
 * usage: rt-fanotify OUTFILE DIR [sb]
 * A group made with FAN_NONBLOCK | FAN_CLASS_NOTIF | FAN_UNLIMITED_QUEUE and O_RDONLY | O_LARGEFILE
 * events: an inode mark on DIR/a (FAN_OPEN | FAN_MODIFY | FAN_CLOSE_WRITE), a mount mark on DIR's mount
 * (FAN_OPEN | FAN_ONDIR) whose ignore mask (FAN_MODIFY | FAN_ACCESS, surviving modify) hides those
 * events from every mark. Mode sb adds a mark on DIR's whole file system (which cryo refuses).
 * READY fd= ; on SIGTERM: opening DIR/b gives FAN_OPEN (the mount mark) and no close event; opening,
 * writing (twice) and closing DIR/a gives FAN_CLOSE_WRITE (the inode mark) but no FAN_MODIFY
 * (the ignore mask, which survives the first write); the queue is then empty without blocking; and the group's fdinfo lines are
 * the ones it had before the checkpoint. */
#include "rt.h"
#include <sys/fanotify.h>

static int fa;
static char a_path[4096], b_path[4096];
static char before[4096];

/* The fdinfo lines of the group ("fanotify ..."), sorted, as one string. */
static void fanotify_lines(char *out, size_t len) {
  char p[64], line[1024], lines[16][1024];
  int n = 0;
  snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fa);
  FILE *f = fopen(p, "r");
  RT_CHECK(f, "open %s: %s", p, strerror(errno));
  while (n < 16 && fgets(line, sizeof line, f)) if (strncmp(line, "fanotify ", 9) == 0) snprintf(lines[n++], sizeof lines[0], "%s", line);
  fclose(f);
  qsort(lines, n, sizeof lines[0], (int (*)(const void *, const void *))strcmp);
  out[0] = 0;
  for (int i = 0; i < n; i++) strncat(out, lines[i], len - strlen(out) - 1);
}

/* Every queued event's mask, per file (a, b; others are ignored). */
static void drain(unsigned long long *a_mask, unsigned long long *b_mask) {
  char buf[8192] __attribute__((aligned(8)));
  *a_mask = *b_mask = 0;
  for (;;) {
    ssize_t n = read(fa, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) return;
    RT_CHECK(n > 0, "read the group: %s", n < 0 ? strerror(errno) : "end of file");
    for (struct fanotify_event_metadata *m = (void *)buf; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
      char link[64], target[4096] = "";
      snprintf(link, sizeof link, "/proc/self/fd/%d", m->fd);
      ssize_t k = m->fd >= 0 ? readlink(link, target, sizeof target - 1) : -1;
      if (k > 0) target[k] = 0;
      if (strcmp(target, a_path) == 0) *a_mask |= m->mask;
      if (strcmp(target, b_path) == 0) *b_mask |= m->mask;
      if (m->fd >= 0) close(m->fd);
    }
  }
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  snprintf(a_path, sizeof a_path, "%s/a", argv[2]);
  snprintf(b_path, sizeof b_path, "%s/b", argv[2]);
  for (int i = 0; i < 2; i++) {
    int fd = open(i ? b_path : a_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    RT_CHECK(fd >= 0, "create: %s", strerror(errno));
    close(fd);
  }
  fa = fanotify_init(FAN_NONBLOCK | FAN_CLASS_NOTIF | FAN_UNLIMITED_QUEUE, O_RDONLY | O_LARGEFILE);
  RT_CHECK(fa >= 0, "fanotify_init: %s", strerror(errno));
  RT_CHECK(fanotify_mark(fa, FAN_MARK_ADD, FAN_OPEN | FAN_MODIFY | FAN_CLOSE_WRITE, AT_FDCWD, a_path) == 0, "inode mark: %s", strerror(errno));
  RT_CHECK(fanotify_mark(fa, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN | FAN_ONDIR, AT_FDCWD, argv[2]) == 0, "mount mark: %s", strerror(errno));
  RT_CHECK(fanotify_mark(fa, FAN_MARK_ADD | FAN_MARK_MOUNT | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, FAN_MODIFY | FAN_ACCESS, AT_FDCWD, argv[2]) == 0,
           "mount ignore mask: %s", strerror(errno));
  if (strcmp(rt_mode, "sb") == 0)
    RT_CHECK(fanotify_mark(fa, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CLOSE_WRITE, AT_FDCWD, argv[2]) == 0, "file system mark: %s", strerror(errno));
  fanotify_lines(before, sizeof before);
  unsigned long long am, bm;
  drain(&am, &bm);

  rt_ready("fd=%d\n", fa);
  rt_wait_term();

  drain(&am, &bm); /* whatever the restore itself caused */
  int fd = open(b_path, O_RDONLY | O_CLOEXEC);
  RT_CHECK(fd >= 0, "open b: %s", strerror(errno));
  close(fd);
  fd = open(a_path, O_RDWR | O_CLOEXEC);
  /* Twice: a first write clears an ignore mask that does not survive modify. */
  RT_CHECK(fd >= 0 && write(fd, "x", 1) == 1 && write(fd, "y", 1) == 1, "write a: %s", strerror(errno));
  close(fd);
  drain(&am, &bm);
  RT_CHECK(bm & FAN_OPEN, "no FAN_OPEN event for b (the mount mark): mask 0x%llx", bm);
  RT_CHECK(!(bm & (FAN_CLOSE_WRITE | FAN_CLOSE_NOWRITE)), "a close event for b, which no mark asks for: mask 0x%llx", bm);
  RT_CHECK(am & FAN_CLOSE_WRITE, "no FAN_CLOSE_WRITE event for a (the inode mark): mask 0x%llx", am);
  RT_CHECK(!(am & FAN_MODIFY), "a FAN_MODIFY event for a came through the mount's ignore mask: mask 0x%llx", am);
  char after[4096];
  fanotify_lines(after, sizeof after);
  RT_CHECK(strcmp(before, after) == 0, "the group's fdinfo was\n%snow\n%s", before, after);
  rt_pass();
}
