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
 *   ended      two connections that ended both ways, all four sockets still held (TCP_CLOSE): see ended()
 *   halfclosed three half-closed connections (see halfclosed()): FIN_WAIT2 / CLOSE_WAIT with
 *              unread bytes both ways, FIN_WAIT1 and LAST_ACK with their FIN queued behind bytes a
 *              full window holds back. On SIGTERM: each end reads the bytes left, then the end of
 *              stream; writes after shutdown fail with EPIPE; the other side can still write,
 *              close, and the FINs are acknowledged.
 *   full       one established connection whose ends (c, then s) have each filled the other's window
 *              and their own send buffer: part of each send queue was never sent. On SIGTERM: each
 *              end reads every byte the other wrote, in order.
 *   external PORT N  one connection accepted on PORT from a peer outside the dumped tree (the test),
 *              which writes N bytes of the pattern without reading; this end fills the peer's window
 *              too (cn bytes). Both windows are full: the peer probes them while the task is away.
 *              On SIGTERM: reads the N bytes in order (the peer reads the cn bytes).
 *   behind     one connection accepted from a listener that stays outside the dumped tree, on its
 *              port (a server's per-connection process, as sshd's sessions): a daemonized process
 *              (holder=PID) listens, connects to itself and hands this task the accepted end
 *              (SCM_RIGHTS), then keeps the listener and the client end. On SIGTERM: the listener
 *              still holds the port; "ping" written here is answered "pong" by the client end.
 *              The holder leaves this task's session (setsid), as a daemon does, unless argv[4]
 *              is "group": then it keeps this task's PID in use as its group and session ID.
 * READY says the ports (gport, bport, lport, aport, pport, eport, dport) and byte counts (en, dn). */
#include "rt.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/wait.h>

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

/* A connected pair (c: the connecting end, s: the accepted one); rcvbuf > 0 makes c's receive buffer small. */
static void pair(int *c, int *s, int rcvbuf) {
  int l = tcp();
  bind_to(l, 0, 0);
  if (listen(l, 4)) RT_FAIL("listen: %s", strerror(errno));
  int x = tcp();
  if (rcvbuf && setsockopt(x, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf)) RT_FAIL("SO_RCVBUF: %s", strerror(errno));
  struct sockaddr_in a = lo(port_of(l));
  if (connect(x, (struct sockaddr *)&a, sizeof a)) RT_FAIL("connect: %s", strerror(errno));
  *c = x;
  *s = accept(l, NULL, NULL);
  if (*s < 0) RT_FAIL("accept: %s", strerror(errno));
  close(l);
}
static void settle(int fd, int want) {
  for (int i = 0; i < 400 && state(fd) != want; i++) readable(fd, 5);
}
/* Writes the pattern from `from` on (non-blocking) until the peer's window and fd's buffer are full. */
static long fill(int fd, long from) {
  int sb = 8192;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  char b[1024];
  long n = from;
  for (int idle = 0; idle < 20;) {
    for (int i = 0; i < (int)sizeof b; i++) b[i] = (char)((n + i) % 251);
    ssize_t w = write(fd, b, sizeof b);
    if (w > 0) { n += w; idle = 0; continue; }
    if (errno != EAGAIN) RT_FAIL("fill: %s", strerror(errno));
    idle++;
    readable(fd, 5);
  }
  fcntl(fd, F_SETFL, fl);
  return n - from;
}
/* Reads n bytes of the pattern. */
static void drain_bytes(int fd, long n, const char *who) {
  char b[4096];
  long got = 0;
  while (got < n) {
    if (!readable(fd, 2000)) RT_FAIL("%s: %ld of %ld bytes, then nothing", who, got, n);
    ssize_t r = read(fd, b, sizeof b);
    if (r <= 0) RT_FAIL("%s: read %zd (%s) after %ld of %ld bytes", who, r, r ? strerror(errno) : "end of stream", got, n);
    for (ssize_t i = 0; i < r; i++)
      if (b[i] != (char)((got + i) % 251)) RT_FAIL("%s: byte %ld is %d, %d expected", who, got + i, b[i], (int)((got + i) % 251));
    got += r;
  }
}
/* Reads n bytes of the pattern, then the end of stream. */
static void drain(int fd, long n, const char *who) {
  char b[16];
  drain_bytes(fd, n, who);
  if (!readable(fd, 2000) || read(fd, b, sizeof b) != 0) RT_FAIL("%s: no end of stream after %ld bytes", who, n);
}
static void write_fails(int fd, const char *who) {
  if (send(fd, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) RT_FAIL("%s: a write after shutdown did not fail with EPIPE (%s)", who, strerror(errno));
}

static void drop_all(int fd, int on) {
  struct sock_filter drop = BPF_STMT(BPF_RET | BPF_K, 0);
  struct sock_fprog prog = { .len = 1, .filter = &drop };
  if (on ? setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) : setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &on, sizeof on))
    RT_FAIL("socket filter: %s", strerror(errno));
}

/* a (FIN_WAIT2) / p (CLOSE_WAIT) with unread bytes both ways; e (FIN_WAIT1: its FIN waits behind
 * bytes g's full window holds back) / g; c (FIN_WAIT2) / d (LAST_ACK: its FIN waits likewise);
 * k (CLOSING) / m (FIN_WAIT1): both sent their FIN, m drops every segment (a socket filter), so
 * k got m's FIN but m has neither k's FIN nor k's ACK of its own. */
static void halfclosed(void) {
  int a, p, e, g, c, d, k, m;
  char b[32];
  pair(&a, &p, 0);
  int one = 1;
  setsockopt(p, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (write(p, "to-a", 4) != 4 || write(a, "before-fin", 10) != 10) RT_FAIL("write: %s", strerror(errno));
  if (shutdown(a, SHUT_WR)) RT_FAIL("shutdown: %s", strerror(errno));
  settle(a, TCP_FIN_WAIT2);
  settle(p, TCP_CLOSE_WAIT);

  pair(&g, &e, 4096);
  long en = fill(e, 0);
  if (shutdown(e, SHUT_WR)) RT_FAIL("shutdown: %s", strerror(errno));

  pair(&c, &d, 4096);
  if (shutdown(c, SHUT_WR)) RT_FAIL("shutdown: %s", strerror(errno));
  settle(d, TCP_CLOSE_WAIT);
  if (!readable(d, 2000) || read(d, b, sizeof b) != 0) RT_FAIL("d: no end of stream");
  long dn = fill(d, 0);
  if (shutdown(d, SHUT_WR)) RT_FAIL("shutdown: %s", strerror(errno));
  settle(c, TCP_FIN_WAIT2);

  pair(&k, &m, 0);
  drop_all(m, 1);
  if (shutdown(k, SHUT_WR) || shutdown(m, SHUT_WR)) RT_FAIL("shutdown: %s", strerror(errno));
  settle(k, TCP_CLOSING);
  if (state(a) != TCP_FIN_WAIT2 || state(p) != TCP_CLOSE_WAIT || state(e) != TCP_FIN_WAIT1 || state(d) != TCP_LAST_ACK || state(c) != TCP_FIN_WAIT2 ||
      state(k) != TCP_CLOSING || state(m) != TCP_FIN_WAIT1)
    RT_FAIL("states a %d p %d e %d d %d c %d k %d m %d", state(a), state(p), state(e), state(d), state(c), state(k), state(m));
  rt_ready("aport=%d pport=%d eport=%d dport=%d kport=%d mport=%d en=%ld dn=%ld\n", port_of(a), port_of(p), port_of(e), port_of(d), port_of(k), port_of(m), en, dn);
  rt_wait_term();

  if (state(a) != TCP_FIN_WAIT2 || state(p) != TCP_CLOSE_WAIT || state(e) != TCP_FIN_WAIT1 || state(d) != TCP_LAST_ACK || state(c) != TCP_FIN_WAIT2 ||
      state(k) != TCP_CLOSING || state(m) != TCP_FIN_WAIT1)
    RT_FAIL("states now a %d p %d e %d d %d c %d k %d m %d", state(a), state(p), state(e), state(d), state(c), state(k), state(m));
  /* Leaving repair mode clears it in the kernel: restore sets it again. */
  if (!opt(p, SO_REUSEADDR)) RT_FAIL("p lost SO_REUSEADDR");
  /* k has m's FIN already; m gets k's FIN once it lets segments in (k sends it again), and both end. */
  if (!readable(k, 0) || read(k, b, sizeof b) != 0) RT_FAIL("k: no end of stream");
  drop_all(m, 0);
  if (!readable(m, 10000) || read(m, b, sizeof b) != 0) RT_FAIL("m: no end of stream once its filter is gone");
  settle(k, TCP_CLOSE);
  if (state(k) != TCP_CLOSE) RT_FAIL("k in state %d once m got its FIN", state(k));
  write_fails(k, "k");
  write_fails(m, "m");
  /* p: the bytes a wrote before its FIN, then the end of stream; p can still write to a. */
  memset(b, 0, sizeof b);
  if (!readable(p, 2000) || read(p, b, sizeof b - 1) != 10 || strcmp(b, "before-fin")) RT_FAIL("p read '%s'", b);
  if (!readable(p, 2000) || read(p, b, sizeof b) != 0) RT_FAIL("p: no end of stream after the bytes");
  memset(b, 0, sizeof b);
  if (!readable(a, 2000) || read(a, b, 4) != 4 || strcmp(b, "to-a")) RT_FAIL("a read '%s' (unread before the dump)", b);
  write_fails(a, "a");
  if (write(p, "late", 4) != 4) RT_FAIL("write on the half-closed connection: %s", strerror(errno));
  memset(b, 0, sizeof b);
  if (!readable(a, 2000) || read(a, b, sizeof b - 1) != 4 || strcmp(b, "late")) RT_FAIL("a read '%s'", b);
  /* p closes: its FIN reaches a, whose sequence numbers must match. */
  close(p);
  if (!readable(a, 2000) || read(a, b, sizeof b) != 0) RT_FAIL("a: no end of stream after p closed");

  /* g: everything e wrote, then e's FIN; e's FIN is acknowledged (FIN_WAIT2). */
  drain(g, en, "g");
  settle(e, TCP_FIN_WAIT2);
  if (state(e) != TCP_FIN_WAIT2) RT_FAIL("e in state %d once g read all", state(e));
  write_fails(e, "e");
  /* c: everything d wrote, then d's FIN; d's connection ends. */
  drain(c, dn, "c");
  settle(d, TCP_CLOSE);
  if (state(d) != TCP_CLOSE) RT_FAIL("d in state %d once c read all", state(d));
  write_fails(d, "d");
  rt_pass();
}

/* c (restored first: the lower descriptor) and s each hold bytes they have not sent yet. */
static void full(void) {
  int c, s;
  pair(&c, &s, 4096);
  int small = 4096;
  setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  long cn = fill(c, 0), sn = fill(s, 0);
  rt_ready("cport=%d sport=%d cn=%ld sn=%ld\n", port_of(c), port_of(s), cn, sn);
  rt_wait_term();
  drain_bytes(s, cn, "s");
  drain_bytes(c, sn, "c");
  rt_pass();
}

static void external(int argc, char **argv) {
  if (argc < 6) RT_FAIL("usage: external PORT N");
  int port = atoi(argv[4]);
  long n = atol(argv[5]);
  int l = tcp(), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  bind_to(l, port, 0);
  if (listen(l, 1)) RT_FAIL("listen: %s", strerror(errno));
  int s = accept(l, NULL, NULL);
  if (s < 0) RT_FAIL("accept: %s", strerror(errno));
  close(l);
  /* The peer's bytes fill this end's receive buffer: wait until they stop coming. */
  int q = -1, was = -2;
  for (int i = 0; i < 200 && q != was; i++) { was = q; readable(s, 20); ioctl(s, FIONREAD, &q); }
  long cn = fill(s, 0);
  rt_ready("sport=%d cn=%ld inq=%d\n", port_of(s), cn, q);
  rt_wait_term();
  drain_bytes(s, n, "s");
  rt_pass();
}

static void send_fd(int via, int fd) {
  char c = 0, ctl[CMSG_SPACE(sizeof(int))] = { 0 };
  struct iovec iov = { &c, 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof fd);
  if (sendmsg(via, &m, 0) != 1) _exit(4);
}
static int recv_fd(int via) {
  char c, ctl[CMSG_SPACE(sizeof(int))];
  struct iovec iov = { &c, 1 };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  if (recvmsg(via, &m, 0) != 1 || !CMSG_FIRSTHDR(&m)) RT_FAIL("no descriptor from the listener's process: %s", strerror(errno));
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof fd);
  return fd;
}

/* The listener's process, reparented away from the task: hands over the accepted end, answers one
 * "ping" on its client end with "pong", and waits to be killed (60 s at most). */
static void holder(int via, int own_session) {
  if (own_session && setsid() < 0) _exit(4);
  int l = tcp();
  bind_to(l, 0, 0);
  if (listen(l, 1)) _exit(4);
  int c = connect_to(port_of(l)), a = accept(l, NULL, NULL);
  if (a < 0) _exit(4);
  int pid = getpid();
  if (write(via, &pid, sizeof pid) != sizeof pid) _exit(4);
  send_fd(via, a);
  close(a);
  close(via);
  char b[4];
  if (!readable(c, 60000) || read(c, b, 4) != 4 || memcmp(b, "ping", 4)) _exit(5);
  if (write(c, "pong", 4) != 4) _exit(5);
  sleep(60);
  _exit(0);
}

static void behind(int argc, char **argv) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) RT_FAIL("socketpair: %s", strerror(errno));
  pid_t p = fork();
  if (p == 0) {
    close(sv[0]);
    close(rt_out);
    if (fork() == 0) holder(sv[1], !(argc > 4 && !strcmp(argv[4], "group")));
    _exit(0);
  }
  if (p < 0 || waitpid(p, NULL, 0) != p) RT_FAIL("fork: %s", strerror(errno));
  close(sv[1]);
  int pid = 0;
  if (read(sv[0], &pid, sizeof pid) != sizeof pid) RT_FAIL("the listener's process said nothing");
  int s = recv_fd(sv[0]);
  close(sv[0]);
  int lport = port_of(s);
  rt_ready("holder=%d lport=%d\n", pid, lport);
  rt_wait_term();
  int x = tcp();
  struct sockaddr_in a = lo(lport);
  if (bind(x, (struct sockaddr *)&a, sizeof a) == 0 || errno != EADDRINUSE) RT_FAIL("port %d is not held by the listener any more", lport);
  close(x);
  if (write(s, "ping", 4) != 4) RT_FAIL("write: %s", strerror(errno));
  char b[5] = "";
  if (!readable(s, 10000) || read(s, b, 4) != 4 || strcmp(b, "pong")) RT_FAIL("read '%s' (%s), pong expected", b, strerror(errno));
  rt_pass();
}

static int same_name(int fd, int peer, const struct sockaddr_in *want) {
  struct sockaddr_in a;
  socklen_t l = sizeof a;
  if (peer ? getsockopt(fd, SOL_SOCKET, SO_PEERNAME, &a, &l) : getsockname(fd, (struct sockaddr *)&a, &l)) return 0;
  return a.sin_port == want->sin_port && a.sin_addr.s_addr == want->sin_addr.s_addr;
}
static int tcp_opt(int fd, int name) {
  int v = 0;
  socklen_t l = sizeof v;
  getsockopt(fd, IPPROTO_TCP, name, &v, &l);
  return v;
}

/* c1 -> s1: c1's port picked by connect(); s1 (accepted) writes "unread" and shuts down first; c1
 * shuts down without reading (LAST_ACK, then CLOSE: the kernel gives c1's port back). c1 has
 * TCP_NODELAY and SO_KEEPALIVE. c2 -> s2: c2 bound a port of its own first (it keeps it); s2 shuts
 * down first too. The listener is closed before the dump.
 * On SIGTERM: all four are CLOSE with both ends as before (getsockname, SO_PEERNAME); c1 reads
 * "unread", then each reads the end of stream and a write fails with EPIPE; c1's options are on;
 * c1's port is free (a fresh socket binds it), c2's is not (EADDRINUSE). */
static void ended(void) {
  int l = tcp();
  bind_to(l, 0, 0);
  if (listen(l, 8)) RT_FAIL("listen: %s", strerror(errno));
  int lport = port_of(l), one = 1;
  int c1 = connect_to(lport), s1 = accept(l, NULL, NULL);
  /* A port of its own: bind() with a port number (a bind to port 0 gives the port back like connect()). */
  int t = tcp();
  bind_to(t, 0, 0);
  int c2port = port_of(t);
  close(t);
  int c2 = tcp();
  bind_to(c2, c2port, 0);
  struct sockaddr_in la = lo(lport);
  if (connect(c2, (struct sockaddr *)&la, sizeof la)) RT_FAIL("connect c2: %s", strerror(errno));
  int s2 = accept(l, NULL, NULL);
  if (s1 < 0 || s2 < 0) RT_FAIL("accept: %s", strerror(errno));
  close(l);
  setsockopt(c1, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(c1, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  if (write(s1, "unread", 6) != 6) RT_FAIL("write s1: %s", strerror(errno));
  int fds[4] = { c1, s1, c2, s2 };
  const char *names[4] = { "c1", "s1", "c2", "s2" };
  shutdown(s1, SHUT_WR);
  shutdown(s2, SHUT_WR);
  settle(c1, TCP_CLOSE_WAIT);
  settle(c2, TCP_CLOSE_WAIT);
  shutdown(c1, SHUT_WR);
  shutdown(c2, SHUT_WR);
  struct sockaddr_in me[4], peer[4];
  for (int i = 0; i < 4; i++) {
    settle(fds[i], TCP_CLOSE);
    if (state(fds[i]) != TCP_CLOSE) RT_FAIL("%s in state %d before the dump", names[i], state(fds[i]));
    socklen_t len = sizeof me[i];
    getsockname(fds[i], (struct sockaddr *)&me[i], &len);
    len = sizeof peer[i];
    if (getsockopt(fds[i], SOL_SOCKET, SO_PEERNAME, &peer[i], &len)) RT_FAIL("SO_PEERNAME %s: %s", names[i], strerror(errno));
  }
  rt_ready("c1port=%d c2port=%d lport=%d\n", ntohs(me[0].sin_port), ntohs(me[2].sin_port), lport);
  rt_wait_term();

  for (int i = 0; i < 4; i++) {
    if (state(fds[i]) != TCP_CLOSE) RT_FAIL("%s in state %d", names[i], state(fds[i]));
    if (!same_name(fds[i], 0, &me[i])) RT_FAIL("%s: getsockname differs", names[i]);
    if (!same_name(fds[i], 1, &peer[i])) RT_FAIL("%s: SO_PEERNAME differs", names[i]);
  }
  char b[16] = "";
  if (read(c1, b, sizeof b - 1) != 6 || strcmp(b, "unread")) RT_FAIL("c1 read '%s' (%s)", b, strerror(errno));
  for (int i = 0; i < 4; i++) {
    ssize_t r = read(fds[i], b, sizeof b);
    if (r != 0) RT_FAIL("%s: read %zd (%s), end of stream expected", names[i], r, r < 0 ? strerror(errno) : "bytes");
    write_fails(fds[i], names[i]);
  }
  if (!tcp_opt(c1, TCP_NODELAY) || !opt(c1, SO_KEEPALIVE)) RT_FAIL("c1 lost TCP_NODELAY or SO_KEEPALIVE");
  int x = tcp();
  struct sockaddr_in a = lo(ntohs(me[0].sin_port));
  if (bind(x, (struct sockaddr *)&a, sizeof a)) RT_FAIL("c1's port %d is held: %s", ntohs(me[0].sin_port), strerror(errno));
  close(x);
  x = tcp();
  a = lo(ntohs(me[2].sin_port));
  if (bind(x, (struct sockaddr *)&a, sizeof a) == 0 || errno != EADDRINUSE) RT_FAIL("c2's port %d is not held", ntohs(me[2].sin_port));
  close(x);
  rt_pass();
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (!strcmp(rt_mode, "inflight")) inflight();
  else if (!strcmp(rt_mode, "halfclosed")) halfclosed();
  else if (!strcmp(rt_mode, "ended")) ended();
  else if (!strcmp(rt_mode, "full")) full();
  else if (!strcmp(rt_mode, "external")) external(argc, argv);
  else if (!strcmp(rt_mode, "behind")) behind(argc, argv);
  else group_and_bound();
  return 0;
}
