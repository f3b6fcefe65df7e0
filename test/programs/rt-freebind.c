/* rt-freebind: sockets bound, with IP_FREEBIND / IPV6_FREEBIND, to addresses this machine does not have.
 * usage: rt-freebind OUTFILE DIR
 * u4: UDP bound to 192.0.2.1 (TEST-NET-1), t6: TCP bound to 2001:db8::1 (documentation prefix),
 * both with FREEBIND set first; u6: UDP bound to 2001:db8::2 with FREEBIND, which is cleared
 * after the bind. On SIGTERM each is still bound there, with FREEBIND set (u4, t6) or not (u6). */
#include "rt.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

static int bound(int family, int type, const char *addr) {
  int s = socket(family, type, 0), one = 1;
  if (s < 0) RT_FAIL("socket: %s", strerror(errno));
  if (family == AF_INET) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(0) };
    inet_pton(AF_INET, addr, &a.sin_addr);
    if (setsockopt(s, SOL_IP, IP_FREEBIND, &one, sizeof one) || bind(s, (void *)&a, sizeof a)) RT_FAIL("bind %s: %s", addr, strerror(errno));
  } else {
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(0) };
    inet_pton(AF_INET6, addr, &a.sin6_addr);
    if (setsockopt(s, SOL_IPV6, IPV6_FREEBIND, &one, sizeof one) || bind(s, (void *)&a, sizeof a)) RT_FAIL("bind %s: %s", addr, strerror(errno));
  }
  return s;
}

static void check(int s, const char *name, const char *want, int fb) {
  struct sockaddr_storage ss;
  socklen_t n = sizeof ss;
  char got[INET6_ADDRSTRLEN] = "";
  if (getsockname(s, (void *)&ss, &n)) RT_FAIL("getsockname %s: %s", name, strerror(errno));
  int v = 0;
  socklen_t vl = sizeof v;
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, got, sizeof got);
    getsockopt(s, SOL_IP, IP_FREEBIND, &v, &vl);
  } else {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, got, sizeof got);
    getsockopt(s, SOL_IPV6, IPV6_FREEBIND, &v, &vl);
  }
  if (strcmp(got, want)) RT_FAIL("%s is bound to %s, want %s", name, got, want);
  if (v != fb) RT_FAIL("%s has FREEBIND %d, want %d", name, v, fb);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int u4 = bound(AF_INET, SOCK_DGRAM, "192.0.2.1");
  int t6 = bound(AF_INET6, SOCK_STREAM, "2001:db8::1");
  int u6 = bound(AF_INET6, SOCK_DGRAM, "2001:db8::2"), zero = 0;
  if (setsockopt(u6, SOL_IPV6, IPV6_FREEBIND, &zero, sizeof zero)) RT_FAIL("clear FREEBIND: %s", strerror(errno));
  rt_ready("u4=%d t6=%d u6=%d\n", u4, t6, u6);
  rt_wait_term();
  check(u4, "u4", "192.0.2.1", 1);
  check(t6, "t6", "2001:db8::1", 1);
  check(u6, "u6", "2001:db8::2", 0);
  rt_pass();
}
