/* rt-inet: TCP and UDP sockets, IPv4 and IPv6, checked after a round trip (loopback only).
 * usage: rt-inet OUTFILE DIR
 *   lis   TCP listener on 127.0.0.1 (a free port), SO_REUSEADDR, backlog 7
 *   cli   TCP client connected to lis; srv: the accepted end. Unread data queued both ways:
 *         QC bytes cli -> srv (pattern 1), QS bytes srv -> cli (pattern 2); TCP_NODELAY on cli
 *   u6    UDP on [::1] (a free port), IPV6_V6ONLY
 *   tcp   unconnected, unbound TCP: SO_KEEPALIVE, TCP_NODELAY, SO_REUSEPORT, SO_RCVBUF/SO_SNDBUF, O_NONBLOCK
 *   upeer UDP bound on 127.0.0.1; ucon: UDP connected to upeer
 * On SIGTERM: ports, options and flags are as they were; lis accepts a new connection; srv
 * and cli read the old queued bytes, then carry new bytes both ways; u6 talks to itself; ucon
 * and upeer talk to each other. */
#include "rt.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#define QC 3000
#define QS 1500
static unsigned char pat(int which, int i) { return (unsigned char)(which * 77 + i * 7 + (i >> 8)); }

static int opt(int fd, int level, int name) {
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(fd, level, name, &v, &l)) RT_FAIL("getsockopt(%d, %d): %s", level, name, strerror(errno));
  return v;
}
static int port_of(int fd) {
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &l)) return -1;
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
}
static int peer_port(int fd) {
  struct sockaddr_storage ss;
  socklen_t l = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &l)) return -1;
  return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
static int readable(int fd, int ms) {
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll(&p, 1, ms) == 1;
}
static int inq(int fd) { int n = 0; ioctl(fd, FIONREAD, &n); return n; }
/* Reads exactly n bytes (waiting up to 2 s in all). */
static int read_n(int fd, unsigned char *b, int n) {
  int got = 0;
  for (int tries = 0; got < n && tries < 200; tries++) {
    if (!readable(fd, 10)) continue;
    ssize_t r = recv(fd, b + got, n - got, MSG_DONTWAIT);
    if (r > 0) got += r;
    else if (r == 0) break;
  }
  return got;
}
static void check_stream(const char *what, int fd, int which, int n) {
  static unsigned char b[8192];
  int got = read_n(fd, b, n);
  if (got != n) RT_FAIL("%s: read %d old bytes, want %d", what, got, n);
  for (int i = 0; i < n; i++)
    if (b[i] != pat(which, i)) RT_FAIL("%s: old byte %d is 0x%02x, want 0x%02x", what, i, b[i], pat(which, i));
  if (inq(fd) != 0) RT_FAIL("%s: %d more bytes than queued", what, inq(fd));
}
static void send_all(int fd, int which, int n) {
  static unsigned char b[8192];
  for (int i = 0; i < n; i++) b[i] = pat(which, i);
  if (send(fd, b, n, 0) != n) RT_FAIL("send: %s", strerror(errno));
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  int one = 1;

  int lis = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(lis, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(lis, (struct sockaddr *)&lo, sizeof lo) || listen(lis, 7)) RT_FAIL("listener: %s", strerror(errno));
  int lport = port_of(lis);
  struct sockaddr_in la = lo;
  la.sin_port = htons(lport);

  int cli = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(cli, (struct sockaddr *)&la, sizeof la)) RT_FAIL("connect: %s", strerror(errno));
  int srv = accept(lis, NULL, NULL);
  if (srv < 0) RT_FAIL("accept: %s", strerror(errno));
  setsockopt(cli, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  send_all(cli, 1, QC);
  send_all(srv, 2, QS);
  for (int i = 0; i < 200 && (inq(srv) < QC || inq(cli) < QS); i++) usleep(5000);
  if (inq(srv) != QC || inq(cli) != QS) RT_FAIL("queued %d/%d bytes, want %d/%d", inq(srv), inq(cli), QC, QS);
  int cport = port_of(cli);

  int u6 = socket(AF_INET6, SOCK_DGRAM, 0);
  setsockopt(u6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  if (bind(u6, (struct sockaddr *)&lo6, sizeof lo6)) RT_FAIL("bind [::1]: %s", strerror(errno));
  int u6port = port_of(u6);

  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int rcv = 50000, snd = 70000;
  setsockopt(tcp, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(tcp, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(tcp, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(tcp, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  setsockopt(tcp, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);
  int tcp_rcv = opt(tcp, SOL_SOCKET, SO_RCVBUF), tcp_snd = opt(tcp, SOL_SOCKET, SO_SNDBUF);

  int upeer = socket(AF_INET, SOCK_DGRAM, 0);
  if (bind(upeer, (struct sockaddr *)&lo, sizeof lo)) RT_FAIL("bind udp: %s", strerror(errno));
  struct sockaddr_in pa = lo;
  pa.sin_port = htons(port_of(upeer));
  int ucon = socket(AF_INET, SOCK_DGRAM, 0);
  if (connect(ucon, (struct sockaddr *)&pa, sizeof pa)) RT_FAIL("connect udp: %s", strerror(errno));
  int uport = port_of(ucon), upport = port_of(upeer);

  rt_ready("lis=%d lport=%d cli=%d cport=%d srv=%d u6=%d u6port=%d tcp=%d upeer=%d ucon=%d\n",
           lis, lport, cli, cport, srv, u6, u6port, tcp, upeer, ucon);
  rt_wait_term();

  /* Addresses and options. */
  if (port_of(lis) != lport) RT_FAIL("listener port %d, want %d", port_of(lis), lport);
  if (!opt(lis, SOL_SOCKET, SO_ACCEPTCONN)) RT_FAIL("listener is not listening");
  if (!opt(lis, SOL_SOCKET, SO_REUSEADDR) || opt(lis, SOL_SOCKET, SO_REUSEPORT)) RT_FAIL("listener SO_REUSEADDR/SO_REUSEPORT changed");
  if (port_of(cli) != cport || peer_port(cli) != lport) RT_FAIL("client %d -> %d, want %d -> %d", port_of(cli), peer_port(cli), cport, lport);
  if (port_of(srv) != lport || peer_port(srv) != cport) RT_FAIL("server end %d -> %d, want %d -> %d", port_of(srv), peer_port(srv), lport, cport);
  if (!opt(cli, IPPROTO_TCP, TCP_NODELAY) || opt(srv, IPPROTO_TCP, TCP_NODELAY)) RT_FAIL("TCP_NODELAY of the connection changed");
  if (port_of(u6) != u6port) RT_FAIL("[::1] UDP port %d, want %d", port_of(u6), u6port);
  if (!opt(u6, IPPROTO_IPV6, IPV6_V6ONLY)) RT_FAIL("IPV6_V6ONLY lost");
  if (port_of(tcp) != 0) RT_FAIL("unbound TCP socket has port %d", port_of(tcp));
  if (!opt(tcp, SOL_SOCKET, SO_KEEPALIVE) || !opt(tcp, IPPROTO_TCP, TCP_NODELAY) || !opt(tcp, SOL_SOCKET, SO_REUSEPORT))
    RT_FAIL("unconnected TCP: SO_KEEPALIVE %d TCP_NODELAY %d SO_REUSEPORT %d", opt(tcp, SOL_SOCKET, SO_KEEPALIVE),
            opt(tcp, IPPROTO_TCP, TCP_NODELAY), opt(tcp, SOL_SOCKET, SO_REUSEPORT));
  if (opt(tcp, SOL_SOCKET, SO_REUSEADDR)) RT_FAIL("unconnected TCP got SO_REUSEADDR");
  if (opt(tcp, SOL_SOCKET, SO_RCVBUF) != tcp_rcv || opt(tcp, SOL_SOCKET, SO_SNDBUF) != tcp_snd)
    RT_FAIL("buffers %d/%d, want %d/%d", opt(tcp, SOL_SOCKET, SO_RCVBUF), opt(tcp, SOL_SOCKET, SO_SNDBUF), tcp_rcv, tcp_snd);
  if (!(fcntl(tcp, F_GETFL) & O_NONBLOCK) || (fcntl(cli, F_GETFL) & O_NONBLOCK)) RT_FAIL("O_NONBLOCK changed");
  if (port_of(ucon) != uport || peer_port(ucon) != upport) RT_FAIL("connected UDP %d -> %d, want %d -> %d", port_of(ucon), peer_port(ucon), uport, upport);

  /* The established connection: old bytes, then new ones both ways. */
  check_stream("server end", srv, 1, QC);
  check_stream("client", cli, 2, QS);
  send_all(cli, 3, 1000);
  send_all(srv, 4, 2000);
  check_stream("server end (new)", srv, 3, 1000);
  check_stream("client (new)", cli, 4, 2000);

  /* The listener takes a new connection. */
  int c2 = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c2, (struct sockaddr *)&la, sizeof la)) RT_FAIL("new connection to the listener: %s", strerror(errno));
  if (!readable(lis, 2000)) RT_FAIL("listener: no connection to accept");
  int s2 = accept(lis, NULL, NULL);
  if (s2 < 0) RT_FAIL("accept after restore: %s", strerror(errno));
  send_all(c2, 5, 100);
  check_stream("new connection", s2, 5, 100);

  /* UDP: [::1] to itself, the connected pair both ways. */
  lo6.sin6_port = htons(u6port);
  if (sendto(u6, "six", 3, 0, (struct sockaddr *)&lo6, sizeof lo6) != 3) RT_FAIL("send on [::1]: %s", strerror(errno));
  char b[16] = {0};
  if (!readable(u6, 2000) || recv(u6, b, sizeof b, 0) != 3 || memcmp(b, "six", 3)) RT_FAIL("[::1] UDP datagram lost");
  if (send(ucon, "ping", 4, 0) != 4) RT_FAIL("send on connected UDP: %s", strerror(errno));
  struct sockaddr_in from;
  socklen_t fl = sizeof from;
  if (!readable(upeer, 2000) || recvfrom(upeer, b, sizeof b, 0, (struct sockaddr *)&from, &fl) != 4 || ntohs(from.sin_port) != uport)
    RT_FAIL("UDP peer did not get the datagram from port %d", uport);
  if (sendto(upeer, "pong", 4, 0, (struct sockaddr *)&from, fl) != 4) RT_FAIL("UDP reply: %s", strerror(errno));
  if (!readable(ucon, 2000) || recv(ucon, b, sizeof b, 0) != 4 || memcmp(b, "pong", 4)) RT_FAIL("connected UDP got no reply");
  rt_pass();
}
