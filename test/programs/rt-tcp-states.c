/* rt-tcp-states: TCP sockets in the states servers hold besides one established connection and
 * one listener (loopback only).
 * usage: rt-tcp-states OUTFILE DIR [MODE]
 *   (no mode)  g1, g2: an SO_REUSEPORT group, two listeners on one port (a server's workers);
 *              b: a socket bound to a port of its own, neither listening nor connected
 *              On SIGTERM: g1 and g2 still share the port (REUSEPORT on both) and the kernel
 *              spreads 40 new connections over both; b still holds its port (a plain bind of it
 *              fails with EADDRINUSE), then listens on it and accepts a connection.
 *   inflight   l: a listener with one connection queued, not yet accepted (cfd: its client)
 *              On SIGTERM: l accepts it and bytes written by the client arrive.
 *   halfclosed a, p: a connection; a shut down its sending side (FIN_WAIT2), p read the end of
 *              stream (CLOSE_WAIT). On SIGTERM: p can still write to a, and a reads it.
 * READY says the ports (gport, bport, lport, aport, pport). */
#include "rt.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

static struct sockaddr_in lo(int port) {
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}
static int port_of(int fd) {
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  if (getsockname(fd, (struct sockaddr *)&a, &l)) return -1;
  return ntohs(a.sin_port);
}
static int tcp(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) RT_FAIL("socket: %s", strerror(errno));
  return s;
}
static void bind_to(int s, int port, int reuseport) {
  int one = 1;
  if (reuseport && setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) RT_FAIL("SO_REUSEPORT: %s", strerror(errno));
  struct sockaddr_in a = lo(port);
  if (bind(s, (struct sockaddr *)&a, sizeof a)) RT_FAIL("bind %d: %s", port, strerror(errno));
}
static int connect_to(int port) {
  int c = tcp();
  struct sockaddr_in a = lo(port);
  if (connect(c, (struct sockaddr *)&a, sizeof a)) RT_FAIL("connect %d: %s", port, strerror(errno));
  return c;
}
static int readable(int fd, int ms) {
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll(&p, 1, ms) == 1;
}
static int opt(int fd, int name) {
  int v = 0;
  socklen_t l = sizeof v;
  getsockopt(fd, SOL_SOCKET, name, &v, &l);
  return v;
}
static int state(int fd) {
  struct tcp_info ti;
  socklen_t l = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l)) return -1;
  return ti.tcpi_state;
}

static void group_and_bound(void) {
  int g1 = tcp(), g2 = tcp(), b = tcp();
  bind_to(g1, 0, 1);
  int gport = port_of(g1);
  bind_to(g2, gport, 1);
  if (listen(g1, 64) || listen(g2, 64)) RT_FAIL("listen: %s", strerror(errno));
  bind_to(b, 0, 0);
  int bport = port_of(b);
  rt_ready("gport=%d bport=%d\n", gport, bport);
  rt_wait_term();

  if (port_of(g1) != gport || port_of(g2) != gport) RT_FAIL("group ports %d %d, want %d", port_of(g1), port_of(g2), gport);
  if (!opt(g1, SO_REUSEPORT) || !opt(g2, SO_REUSEPORT)) RT_FAIL("SO_REUSEPORT is off on a listener of the group");
  if (!opt(g1, SO_ACCEPTCONN) || !opt(g2, SO_ACCEPTCONN)) RT_FAIL("a listener of the group is not listening");
  int n1 = 0, n2 = 0, cs[40], as[40], na = 0;
  for (int i = 0; i < 40; i++) cs[i] = connect_to(gport);
  for (int i = 0; i < 40; i++) {
    if (readable(g1, 0)) { int a = accept(g1, NULL, NULL); if (a >= 0) { n1++; as[na++] = a; } }
    else if (readable(g2, 200)) { int a = accept(g2, NULL, NULL); if (a >= 0) { n2++; as[na++] = a; } }
  }
  /* Clients close first: TIME_WAIT stays on their ports, not on the group's (a later restore binds it). */
  for (int i = 0; i < 40; i++) close(cs[i]);
  for (int i = 0; i < na; i++) { readable(as[i], 200); close(as[i]); }
  if (n1 + n2 != 40 || n1 == 0 || n2 == 0) RT_FAIL("40 connections to the group: %d reached g1, %d g2", n1, n2);

  if (port_of(b) != bport) RT_FAIL("bound socket on port %d, want %d", port_of(b), bport);
  if (opt(b, SO_ACCEPTCONN)) RT_FAIL("the bound socket listens");
  int x = tcp();
  struct sockaddr_in a = lo(bport);
  if (bind(x, (struct sockaddr *)&a, sizeof a) == 0 || errno != EADDRINUSE) RT_FAIL("port %d is free: the bound socket does not hold it (%s)", bport, strerror(errno));
  close(x);
  if (listen(b, 1)) RT_FAIL("listen on the bound socket: %s", strerror(errno));
  int c = connect_to(bport);
  if (!readable(b, 2000)) RT_FAIL("no connection reached the bound socket");
  int s = accept(b, NULL, NULL);
  if (s < 0) RT_FAIL("accept: %s", strerror(errno));
  close(c);
  readable(s, 200);
  close(s);
  rt_pass();
}

static void inflight(void) {
  int l = tcp();
  bind_to(l, 0, 0);
  if (listen(l, 4)) RT_FAIL("listen: %s", strerror(errno));
  int c = connect_to(port_of(l));
  if (write(c, "queued", 6) != 6) RT_FAIL("write: %s", strerror(errno));
  rt_ready("lport=%d cport=%d\n", port_of(l), port_of(c));
  rt_wait_term();
  if (!readable(l, 2000)) RT_FAIL("the queued connection is gone");
  int s = accept(l, NULL, NULL);
  char b[8] = { 0 };
  if (s < 0 || !readable(s, 2000) || read(s, b, sizeof b - 1) != 6 || strcmp(b, "queued")) RT_FAIL("the queued connection's bytes: '%s'", b);
  rt_pass();
}

static void halfclosed(void) {
  int l = tcp();
  bind_to(l, 0, 0);
  if (listen(l, 4)) RT_FAIL("listen: %s", strerror(errno));
  int a = connect_to(port_of(l));
  int p = accept(l, NULL, NULL);
  if (p < 0) RT_FAIL("accept: %s", strerror(errno));
  close(l);
  if (shutdown(a, SHUT_WR)) RT_FAIL("shutdown: %s", strerror(errno));
  char b[16];
  if (!readable(p, 2000) || read(p, b, sizeof b) != 0) RT_FAIL("no end of stream on p");
  for (int i = 0; i < 200 && state(a) != TCP_FIN_WAIT2; i++) readable(a, 10);
  if (state(a) != TCP_FIN_WAIT2 || state(p) != TCP_CLOSE_WAIT) RT_FAIL("states %d %d", state(a), state(p));
  rt_ready("aport=%d pport=%d\n", port_of(a), port_of(p));
  rt_wait_term();
  if (state(a) != TCP_FIN_WAIT2 || state(p) != TCP_CLOSE_WAIT) RT_FAIL("states now %d %d", state(a), state(p));
  if (write(p, "late", 4) != 4) RT_FAIL("write on the half-closed connection: %s", strerror(errno));
  memset(b, 0, sizeof b);
  if (!readable(a, 2000) || read(a, b, sizeof b - 1) != 4 || strcmp(b, "late")) RT_FAIL("a read '%s'", b);
  rt_pass();
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (!strcmp(rt_mode, "inflight")) inflight();
  else if (!strcmp(rt_mode, "halfclosed")) halfclosed();
  else group_and_bound();
  return 0;
}
