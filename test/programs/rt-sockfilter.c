/* rt-sockfilter: a classic BPF socket filter (SO_ATTACH_FILTER) on a UDP socket, checked after a round trip.
 * usage: rt-sockfilter OUTFILE DIR
 * u: UDP socket on 127.0.0.1 with a 3-instruction filter that keeps datagrams of 4 bytes and
 * drops the rest. On SIGTERM SO_GET_FILTER gives the same 3 instructions, and of a 4-byte and a
 * 5-byte datagram sent to u only the 4-byte one arrives. */
#include "rt.h"
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/socket.h>

static struct sock_filter prog[] = {
  { BPF_LD | BPF_W | BPF_LEN, 0, 0, 0 },       /* A = packet length (UDP payload + header: 8 + n) */
  { BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 8 + 4 },  /* 4 bytes of payload? */
  { BPF_RET | BPF_K, 0, 0, 0xffff },           /* keep */
  { BPF_RET | BPF_K, 0, 0, 0 },                /* drop */
};
#define N (sizeof prog / sizeof prog[0])

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int u = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  struct sock_fprog fp = { N, prog };
  if (u < 0 || s < 0 || bind(u, (void *)&a, sizeof a) || getsockname(u, (void *)&a, &al)) RT_FAIL("socket: %s", strerror(errno));
  if (setsockopt(u, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp)) RT_FAIL("SO_ATTACH_FILTER: %s", strerror(errno));
  rt_ready("u=%d port=%d\n", u, ntohs(a.sin_port));
  rt_wait_term();

  struct sock_filter got[16];
  socklen_t n = 16;
  if (getsockopt(u, SOL_SOCKET, SO_GET_FILTER, got, &n)) RT_FAIL("SO_GET_FILTER: %s", strerror(errno));
  if (n != N) RT_FAIL("the filter has %u instructions, want %zu", (unsigned)n, N);
  for (unsigned i = 0; i < N; i++)
    if (memcmp(&got[i], &prog[i], sizeof prog[i])) RT_FAIL("filter instruction %u is {0x%x, %u, %u, 0x%x}, want {0x%x, %u, %u, 0x%x}", i,
      got[i].code, got[i].jt, got[i].jf, got[i].k, prog[i].code, prog[i].jt, prog[i].jf, prog[i].k);
  if (sendto(s, "12345", 5, 0, (void *)&a, sizeof a) != 5 || sendto(s, "1234", 4, 0, (void *)&a, sizeof a) != 4) RT_FAIL("sendto: %s", strerror(errno));
  char b[16];
  ssize_t r = recv(u, b, sizeof b, 0);
  if (r != 4) RT_FAIL("u received %zd bytes first, want the 4-byte datagram (the 5-byte one filtered out)", r);
  if (recv(u, b, sizeof b, MSG_DONTWAIT) != -1) RT_FAIL("u received a second datagram: the filter let the 5-byte one through");
  rt_pass();
}
