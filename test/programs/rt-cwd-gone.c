/* rt-cwd-gone: a process working in a directory that was removed, and holding it open.
 * usage: rt-cwd-gone OUTFILE DIR
 * DIR/gone (mode 0751) is made, opened (fd d), made the working directory, then removed.
 * On SIGTERM: the working directory is DIR/gone "(deleted)", the same directory as fd d, still
 * mode 0751, and DIR/gone does not exist (restore left nothing behind). */
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
  rt_ready("d=%d\n", d);
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
  rt_pass();
}
