/* rt-migrate: a TCP echo server in a network namespace, migrated with its client connected.
 * args: OUTFILE DIR MODE NETNS ADDR PORT. It joins NETNS, listens on ADDR:PORT, accepts one
 * client and echoes each line "N" back, where N must be the one after the last (a lost or repeated
 * line fails); each line also writes a page of its 16 MiB area. On SIGTERM the area and the count
 * are checked. READY names nothing; "served=N" is printed with PASS. */
#include "rt.h"
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define NPAGES 4096
#define PAGE 4096

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (argc < 7) RT_FAIL("usage: OUTFILE DIR MODE NETNS ADDR PORT");
  int ns = open(argv[4], O_RDONLY | O_CLOEXEC);
  if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) RT_FAIL("setns %s: %s", argv[4], strerror(errno));
  close(ns);
  unsigned char *area = mmap(NULL, (size_t)NPAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  for (uint32_t i = 0; i < NPAGES; i++) memset(area + (size_t)i * PAGE, 0, PAGE);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[6])) };
  if (inet_pton(AF_INET, argv[5], &a.sin_addr) != 1) RT_FAIL("bad address %s", argv[5]);
  if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 1) < 0) RT_FAIL("listen: %s", strerror(errno));
  rt_ready("listening=%s:%s\n", argv[5], argv[6]);
  int c = -1;
  while (!rt_term && c < 0) {
    struct pollfd p = { .fd = ls, .events = POLLIN };
    if (poll(&p, 1, 10) == 1) c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  }
  close(ls);
  uint32_t last = 0;
  char buf[4096];
  size_t have = 0;
  while (!rt_term && c >= 0) {
    struct pollfd p = { .fd = c, .events = POLLIN };
    if (poll(&p, 1, 10) != 1) continue;
    ssize_t n = read(c, buf + have, sizeof buf - 1 - have);
    if (n == 0) break;
    if (n < 0) { if (errno == EINTR) continue; RT_FAIL("read: %s", strerror(errno)); }
    have += (size_t)n;
    char *nl;
    while ((nl = memchr(buf, '\n', have)) != NULL) {
      *nl = 0;
      uint32_t v = (uint32_t)strtoul(buf, NULL, 10);
      RT_CHECK(v == last + 1, "line %u after %u", v, last);
      last = v;
      memcpy(area + (size_t)(v % NPAGES) * PAGE, &v, 4);
      size_t len = (size_t)(nl - buf) + 1;
      *nl = '\n';
      if (write(c, buf, len) != (ssize_t)len) RT_FAIL("write: %s", strerror(errno));
      memmove(buf, buf + len, have - len);
      have -= len;
    }
  }
  RT_CHECK(last > 0, "no line served");
  for (uint32_t i = 0; i < NPAGES; i++) {
    uint32_t v;
    memcpy(&v, area + (size_t)i * PAGE, 4);
    uint32_t want = 0;
    if (last >= i && i > 0) want = i + ((last - i) / NPAGES) * NPAGES;
    if (i == 0 && last >= NPAGES) want = (last / NPAGES) * NPAGES;
    RT_CHECK(v == want, "page %u holds %u, want %u", i, v, want);
  }
  rt_say("served=%u\n", last);
  rt_pass();
}
