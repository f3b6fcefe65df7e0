/* rt-inotify-gone: an inotify watch on a file deleted since, which the task still holds open.
 * usage: rt-inotify-gone OUTFILE DIR
 * DIR/f is created and opened for writing (fd r); inotify fd i watches DIR (watch 1) and DIR/f
 * (watch 2, IN_MODIFY | IN_CLOSE_WRITE); DIR/f is unlinked and the queued events are read.
 * On SIGTERM: a write to r and its close are reported on watch 2 (the very file r is), and
 * DIR/f does not exist. DIR/other is an unrelated file. */
#include "rt.h"
#include <sys/inotify.h>

/* Collects the masks reported on watch `wd` (events of other watches are skipped). */
static unsigned events(int i, int wd) {
  char buf[4096] __attribute__((aligned(8)));
  unsigned got = 0;
  ssize_t n;
  while ((n = read(i, buf, sizeof buf)) > 0) {
    for (char *p = buf; p < buf + n;) {
      struct inotify_event *e = (struct inotify_event *)p;
      if (e->wd == wd) got |= e->mask;
      p += sizeof *e + e->len;
    }
  }
  return got;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char f[512], other[512];
  snprintf(f, sizeof f, "%s/f", argv[2]);
  snprintf(other, sizeof other, "%s/other", argv[2]);
  int o = open(other, O_CREAT | O_WRONLY, 0600);
  if (o < 0) RT_FAIL("create other");
  close(o);
  int r = open(f, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  int i = inotify_init1(IN_NONBLOCK);
  if (r < 0 || i < 0) RT_FAIL("setup: %s", strerror(errno));
  if (inotify_add_watch(i, argv[2], IN_CREATE | IN_DELETE | IN_CLOSE_WRITE) != 1) RT_FAIL("watch 1");
  if (inotify_add_watch(i, f, IN_MODIFY | IN_CLOSE_WRITE) != 2) RT_FAIL("watch 2");
  if (unlink(f)) RT_FAIL("unlink");
  events(i, 1);
  rt_ready("r=%d i=%d\n", r, i);
  rt_wait_term();

  if (write(r, "x", 1) != 1) RT_FAIL("write to the deleted file: %s", strerror(errno));
  unsigned got = events(i, 2);
  if (!(got & IN_MODIFY)) RT_FAIL("a write to fd %d: watch 2 reported 0x%x, want IN_MODIFY", r, got);
  close(r);
  got = events(i, 2);
  if (!(got & IN_CLOSE_WRITE)) RT_FAIL("closing fd %d: watch 2 reported 0x%x, want IN_CLOSE_WRITE", r, got);
  if (access(f, F_OK) == 0) RT_FAIL("%s exists after restore", f);
  rt_pass();
}
