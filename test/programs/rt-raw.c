/* rt-raw: ping sockets (SOCK_DGRAM, IPPROTO_ICMP/ICMPV6) and raw sockets (SOCK_RAW), checked after
 * a round trip (loopback only; root).
 * usage: rt-raw OUTFILE DIR
 *   ping4  ping socket bound to 127.0.0.1 (its echo identifier chosen by the kernel), connected
 *          to 127.0.0.1, IP_TTL 33, IP_TOS 0x10
 *   ping6  ping socket on IPv6, never bound
 *   icmp4  raw ICMP bound to 127.0.0.14, ICMP_FILTER blocking timestamp requests, IP_NODEFRAG, O_NONBLOCK
 *   icmp6  raw ICMPv6, ICMPV6_FILTER blocking echo requests, IPV6_RECVPKTINFO
 *   rudp   raw UDP connected to 127.0.0.1 (port 0: getpeername says ENOTCONN), IP_FREEBIND
 *   rraw   raw IPPROTO_RAW with IP_HDRINCL turned off;  udp: a UDP socket on 127.0.0.1 for rudp to reach
 *   MODE checksum: also a raw IPv6 UDP socket with IPV6_CHECKSUM (which the dump refuses)
 * On SIGTERM: options, addresses and identifiers are as they were; ping4 sends an echo request
 * without an address and gets the reply; ping6 pings ::1; rudp sends a UDP datagram without an
 * address and udp receives it. */
#include "rt.h"
#include <arpa/inet.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <sys/socket.h>

static int opt(int fd, int level, int name) {
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(fd, level, name, &v, &l)) RT_FAIL("getsockopt(%d, %d, %d): %s", fd, level, name, strerror(errno));
  return v;
}
static void set(int fd, int level, int name, int v) {
  if (setsockopt(fd, level, name, &v, sizeof v)) RT_FAIL("setsockopt(%d, %d, %d): %s", fd, level, name, strerror(errno));
}
static struct sockaddr_in v4(const char *a, int port) {
  struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };
  inet_pton(AF_INET, a, &s.sin_addr);
  return s;
}
static struct sockaddr_in name4(int fd) {
  struct sockaddr_in s = {0};
  socklen_t l = sizeof s;
  getsockname(fd, (struct sockaddr *)&s, &l);
  return s;
}
static int readable(int fd, int ms) {
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll(&p, 1, ms) == 1;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int ping4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
  if (ping4 < 0 && errno == EACCES) {
    /* ping sockets are for the groups of net.ipv4.ping_group_range; a fresh machine allows none. */
    int f = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
    if (f < 0 || write(f, "0 0", 3) != 3) RT_FAIL("cannot allow ping sockets to group 0: %s", strerror(errno));
    close(f);
    ping4 = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
  }
  if (ping4 < 0) RT_FAIL("ping socket: %s", strerror(errno));
  struct sockaddr_in lo = v4("127.0.0.1", 0);
  if (bind(ping4, (struct sockaddr *)&lo, sizeof lo) || connect(ping4, (struct sockaddr *)&lo, sizeof lo)) RT_FAIL("ping4: %s", strerror(errno));
  set(ping4, SOL_IP, IP_TTL, 33);
  set(ping4, SOL_IP, IP_TOS, 0x10);
  int ident = ntohs(name4(ping4).sin_port);

  int ping6 = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
  if (ping6 < 0) RT_FAIL("ping6 socket: %s", strerror(errno));

  int icmp4 = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
  struct sockaddr_in a14 = v4("127.0.0.14", 0);
  if (icmp4 < 0 || bind(icmp4, (struct sockaddr *)&a14, sizeof a14)) RT_FAIL("icmp4: %s", strerror(errno));
  struct icmp_filter f4 = { .data = 1 << ICMP_TIMESTAMP };
  if (setsockopt(icmp4, SOL_RAW, ICMP_FILTER, &f4, sizeof f4)) RT_FAIL("ICMP_FILTER: %s", strerror(errno));
  set(icmp4, SOL_IP, IP_NODEFRAG, 1);

  int icmp6 = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
  if (icmp6 < 0) RT_FAIL("icmp6: %s", strerror(errno));
  struct icmp6_filter f6;
  ICMP6_FILTER_SETPASSALL(&f6);
  ICMP6_FILTER_SETBLOCK(ICMP6_ECHO_REQUEST, &f6);
  if (setsockopt(icmp6, IPPROTO_ICMPV6, ICMP6_FILTER, &f6, sizeof f6)) RT_FAIL("ICMPV6_FILTER: %s", strerror(errno));
  set(icmp6, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1);

  int udp = socket(AF_INET, SOCK_DGRAM, 0);
  if (bind(udp, (struct sockaddr *)&lo, sizeof lo)) RT_FAIL("udp: %s", strerror(errno));
  int uport = ntohs(name4(udp).sin_port);
  int rudp = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
  if (rudp < 0 || connect(rudp, (struct sockaddr *)&lo, sizeof lo)) RT_FAIL("rudp: %s", strerror(errno));
  set(rudp, SOL_IP, IP_FREEBIND, 1);

  int rraw = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (rraw < 0) RT_FAIL("rraw: %s", strerror(errno));
  set(rraw, SOL_IP, IP_HDRINCL, 0);
  if (!strcmp(rt_mode, "checksum")) {
    /* Where the kernel puts a checksum on a raw IPv6 socket: no field of CRIU's image keeps it. */
    int ck = socket(AF_INET6, SOCK_RAW, IPPROTO_UDP);
    if (ck < 0) RT_FAIL("ck: %s", strerror(errno));
    set(ck, IPPROTO_IPV6, IPV6_CHECKSUM, 6);
  }

  rt_ready("ping4=%d ident=%d ping6=%d icmp4=%d icmp6=%d rudp=%d rraw=%d udp=%d\n", ping4, ident, ping6, icmp4, icmp6, rudp, rraw, udp);
  rt_wait_term();

  /* Options and addresses. */
  if (ntohs(name4(ping4).sin_port) != ident) RT_FAIL("ping4 identifier %d, want %d", ntohs(name4(ping4).sin_port), ident);
  if (opt(ping4, SOL_IP, IP_TTL) != 33 || opt(ping4, SOL_IP, IP_TOS) != 0x10) RT_FAIL("ping4 IP_TTL %d IP_TOS %d, want 33 16", opt(ping4, SOL_IP, IP_TTL), opt(ping4, SOL_IP, IP_TOS));
  if (opt(ping6, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_ICMPV6 || opt(ping6, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM) RT_FAIL("ping6 is no ping socket");
  if (name4(icmp4).sin_addr.s_addr != a14.sin_addr.s_addr) RT_FAIL("icmp4 bound to %s, want 127.0.0.14", inet_ntoa(name4(icmp4).sin_addr));
  struct icmp_filter g4 = {0};
  socklen_t l = sizeof g4;
  if (getsockopt(icmp4, SOL_RAW, ICMP_FILTER, &g4, &l) || g4.data != 1u << ICMP_TIMESTAMP) RT_FAIL("icmp4 ICMP_FILTER 0x%x, want 0x%x", g4.data, 1u << ICMP_TIMESTAMP);
  if (!opt(icmp4, SOL_IP, IP_NODEFRAG)) RT_FAIL("icmp4 lost IP_NODEFRAG");
  if (!(fcntl(icmp4, F_GETFL) & O_NONBLOCK)) RT_FAIL("icmp4 lost O_NONBLOCK");
  struct icmp6_filter g6;
  l = sizeof g6;
  if (getsockopt(icmp6, IPPROTO_ICMPV6, ICMP6_FILTER, &g6, &l) || memcmp(&g6, &f6, sizeof f6)) RT_FAIL("icmp6 ICMPV6_FILTER changed (word 4: 0x%x, want 0x%x)", g6.icmp6_filt[4], f6.icmp6_filt[4]);
  if (!opt(icmp6, IPPROTO_IPV6, IPV6_RECVPKTINFO)) RT_FAIL("icmp6 lost IPV6_RECVPKTINFO");
  if (!opt(rudp, SOL_IP, IP_FREEBIND) || opt(rudp, SOL_IP, IP_HDRINCL)) RT_FAIL("rudp IP_FREEBIND %d IP_HDRINCL %d, want 1 0", opt(rudp, SOL_IP, IP_FREEBIND), opt(rudp, SOL_IP, IP_HDRINCL));
  if (opt(rraw, SOL_IP, IP_HDRINCL)) RT_FAIL("rraw has IP_HDRINCL again");
  if (opt(rraw, SOL_SOCKET, SO_PROTOCOL) != IPPROTO_RAW) RT_FAIL("rraw protocol %d, want %d", opt(rraw, SOL_SOCKET, SO_PROTOCOL), IPPROTO_RAW);

  /* ping4 is connected: an echo request without an address, the reply carries our identifier. */
  struct icmphdr q = { .type = ICMP_ECHO, .un.echo.sequence = htons(7) };
  if (send(ping4, &q, sizeof q, 0) != sizeof q) RT_FAIL("ping4 send (connected?): %s", strerror(errno));
  struct icmphdr rep = {0};
  if (!readable(ping4, 2000) || recv(ping4, &rep, sizeof rep, 0) < (ssize_t)sizeof rep || rep.type != ICMP_ECHOREPLY || ntohs(rep.un.echo.id) != ident)
    RT_FAIL("ping4: no echo reply with identifier %d (type %d id %d)", ident, rep.type, ntohs(rep.un.echo.id));
  struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
  struct icmp6_hdr q6 = { .icmp6_type = ICMP6_ECHO_REQUEST };
  if (sendto(ping6, &q6, sizeof q6, 0, (struct sockaddr *)&lo6, sizeof lo6) != sizeof q6) RT_FAIL("ping6 send: %s", strerror(errno));
  struct icmp6_hdr r6 = {0};
  if (!readable(ping6, 2000) || recv(ping6, &r6, sizeof r6, 0) < (ssize_t)sizeof r6 || r6.icmp6_type != ICMP6_ECHO_REPLY) RT_FAIL("ping6: no echo reply from ::1");

  /* rudp is connected to 127.0.0.1: a UDP header and payload without an address reach udp. */
  unsigned char d[12] = {0};
  *(unsigned short *)(d + 2) = htons(uport);
  *(unsigned short *)(d + 4) = htons(sizeof d);
  memcpy(d + 8, "raw!", 4);
  if (send(rudp, d, sizeof d, 0) != sizeof d) RT_FAIL("rudp send (connected?): %s", strerror(errno));
  char b[16] = {0};
  if (!readable(udp, 2000) || recv(udp, b, sizeof b, 0) != 4 || memcmp(b, "raw!", 4)) RT_FAIL("udp did not get rudp's datagram");
  rt_pass();
}
