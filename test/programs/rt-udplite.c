/* rt-udplite: UDP-Lite sockets (IPPROTO_UDPLITE), as zdtm's socket_udplite sets them up.
 * Usage: rt-udplite OUTFILE DIR
 * fd 4 is bound to 127.0.0.1 (a free port), fd 5 bound too and connected to fd 4. On SIGTERM:
 * both are still UDP-Lite on their ports, fd 5 still sends to fd 4 and fd 4 answers by address. */
#include "rt.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

static int port_of(int s, int peer) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if ((peer ? getpeername : getsockname)(s, (struct sockaddr *)&a, &len)) return -1;
  return ntohs(a.sin_port);
}

static int lite(void) {
  struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  int s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
  if (s < 0 || bind(s, (struct sockaddr *)&lo, sizeof lo)) RT_FAIL("udplite socket: %s", strerror(errno));
  return s;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int a = lite(), b = lite();
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = htons(port_of(a, 0)) };
  if (a != 4 || b != 5 || connect(b, (struct sockaddr *)&to, sizeof to)) RT_FAIL("connect: %s", strerror(errno));
  int aport = port_of(a, 0), bport = port_of(b, 0);
  rt_ready("a=%d b=%d\n", aport, bport);
  rt_wait_term();
  for (int fd = 4; fd <= 5; fd++) {
    int proto = 0;
    socklen_t len = sizeof proto;
    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
    RT_CHECK(proto == IPPROTO_UDPLITE, "fd %d protocol %d, want %d (UDP-Lite)", fd, proto, IPPROTO_UDPLITE);
  }
  RT_CHECK(port_of(a, 0) == aport && port_of(b, 0) == bport && port_of(b, 1) == aport,
           "ports %d, %d -> %d, want %d, %d -> %d", port_of(a, 0), port_of(b, 0), port_of(b, 1), aport, bport, aport);
  char buf[8] = "";
  struct sockaddr_in from;
  socklen_t flen = sizeof from;
  RT_CHECK(send(b, "lite", 4, 0) == 4, "send on fd 5: %s", strerror(errno));
  RT_CHECK(recvfrom(a, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen) == 4 && !memcmp(buf, "lite", 4), "fd 4 got no datagram");
  RT_CHECK(sendto(a, "back", 4, 0, (struct sockaddr *)&from, flen) == 4 && recv(b, buf, sizeof buf, 0) == 4 && !memcmp(buf, "back", 4), "no answer on fd 5");
  rt_pass();
  return 0;
}
