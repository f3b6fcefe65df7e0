/* rt-cwd-gone: a process working in a directory that was removed, and holding it open.
 * usage: rt-cwd-gone OUTFILE DIR
 * DIR/gone (mode 0751) is made, opened (fd d), made the working directory, then removed.
 * DIR/top/inner is opened (fd i), then it and DIR/top are removed (a directory whose parent is gone too).
 * On SIGTERM: the working directory is DIR/gone "(deleted)", the same directory as fd d, still
 * mode 0751; fd i is a removed directory named DIR/top/inner "(deleted)"; DIR/gone and DIR/top do
 * not exist (restore left nothing behind). */
#include "rt.h"
#include <sys/stat.h>

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char gone[512], link[600], want[600];
  snprintf(gone, sizeof gone, "%s/gone", argv[2]);
  umask(0);
  if (mkdir(gone, 0751)) RT_FAIL("mkdir %s: %s", gone, strerror(errno));
  int d = open(gone, O_DIRECTORY | O_RDONLY);
  if (d < 0 || chdir(gone) || rmdir(gone)) RT_FAIL("setup: %s", strerror(errno));
  snprintf(want, sizeof want, "%s (deleted)", gone);
  char top[512], inner[600], want_i[700];
  snprintf(top, sizeof top, "%s/top", argv[2]);
  snprintf(inner, sizeof inner, "%s/inner", top);
  snprintf(want_i, sizeof want_i, "%s (deleted)", inner);
  if (mkdir(top, 0755) || mkdir(inner, 0700)) RT_FAIL("mkdir %s: %s", inner, strerror(errno));
  int i = open(inner, O_DIRECTORY | O_RDONLY);
  if (i < 0 || rmdir(inner) || rmdir(top)) RT_FAIL("setup %s: %s", inner, strerror(errno));
  rt_ready("d=%d i=%d\n", d, i);
  rt_wait_term();

  ssize_t n = readlink("/proc/self/cwd", link, sizeof link - 1);
  if (n < 0) RT_FAIL("readlink cwd: %s", strerror(errno));
  link[n] = 0;
  if (strcmp(link, want)) RT_FAIL("cwd is '%s', want '%s'", link, want);
  struct stat c, o;
  if (stat(".", &c) || fstat(d, &o)) RT_FAIL("stat: %s", strerror(errno));
  if (c.st_ino != o.st_ino || c.st_dev != o.st_dev) RT_FAIL("cwd and fd %d are different directories", d);
  if ((c.st_mode & 07777) != 0751) RT_FAIL("cwd mode 0%o, want 0751", c.st_mode & 07777);
  if (c.st_nlink != 0) RT_FAIL("cwd has %lu links, want 0 (removed)", (unsigned long)c.st_nlink);
  if (access(gone, F_OK) == 0) RT_FAIL("%s exists after restore", gone);
  char fdlink[64];
  snprintf(fdlink, sizeof fdlink, "/proc/self/fd/%d", i);
  n = readlink(fdlink, link, sizeof link - 1);
  link[n < 0 ? 0 : n] = 0;
  if (strcmp(link, want_i)) RT_FAIL("fd %d is '%s', want '%s'", i, link, want_i);
  if (fstat(i, &o) || !S_ISDIR(o.st_mode) || o.st_nlink != 0) RT_FAIL("fd %d is no removed directory", i);
  if (access(top, F_OK) == 0) RT_FAIL("%s exists after restore", top);
  rt_pass();
}
