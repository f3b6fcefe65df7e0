/* rt-packet: packet sockets, checked after a round trip (root; the loopback device).
 * usage: rt-packet OUTFILE DIR [bypass]
 *   p1  SOCK_RAW, protocol 0 (unbound), TPACKET_V2, PACKET_AUXDATA, an RX ring (4 frames of 1024)
 *       mapped at `ring`, promiscuous on lo added twice
 *   p2  SOCK_DGRAM, ETH_P_IP, bound to lo, PACKET_RESERVE 8, PACKET_ORIGDEV, fanout group FG (hash),
 *       a unicast address membership on lo, a TX ring, O_NONBLOCK
 *   p3  SOCK_PACKET, ETH_P_ALL, bound to "lo";  p4: SOCK_PACKET unbound
 * On SIGTERM: bindings and options are as they were, p1's ring is still mapped at `ring`, the
 * rings are there (mmap works), the
 * promiscuous membership keeps lo promiscuous after one drop (once the unicast one, which does too,
 * is dropped); p2 receives an IP
 * packet sent over lo.
 * MODE bypass: p1 also has PACKET_QDISC_BYPASS (which the dump refuses).
 * MODE closed: also the ring of a socket closed since, still mapped (which the dump refuses). */
#include "rt.h"
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

static int opt(int fd, int name) {
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(fd, SOL_PACKET, name, &v, &l)) RT_FAIL("getsockopt(%d, SOL_PACKET, %d): %s", fd, name, strerror(errno));
  return v;
}
static void set(int fd, int name, const void *v, socklen_t len) {
  if (setsockopt(fd, SOL_PACKET, name, v, len)) RT_FAIL("setsockopt(%d, SOL_PACKET, %d): %s", fd, name, strerror(errno));
}
static void seti(int fd, int name, int v) { set(fd, name, &v, sizeof v); }
static int member(int fd, int op, int lo, int type, int alen) {
  struct packet_mreq m = { .mr_ifindex = lo, .mr_type = type, .mr_alen = alen };
  return setsockopt(fd, SOL_PACKET, op, &m, sizeof m);
}
/* lo's IFF_PROMISC (nobody else on this machine makes lo promiscuous while the test runs). */
static int promisc(void) {
  unsigned flags = 0;
  FILE *f = fopen("/sys/class/net/lo/flags", "r");
  if (!f || fscanf(f, "%x", &flags) != 1) RT_FAIL("cannot read lo's flags");
  fclose(f);
  return (flags & 0x100) != 0;
}
/* /proc/self/maps has a mapping of socket fd's inode starting at `at`. */
static int mapped_from(void *at, int fd) {
  struct stat st;
  char line[512];
  int ok = 0;
  fstat(fd, &st);
  FILE *f = fopen("/proc/self/maps", "r");
  while (f && fgets(line, sizeof line, f)) {
    unsigned long start;
    unsigned long long ino;
    if (sscanf(line, "%lx-%*x %*s %*s %*s %llu", &start, &ino) == 2 && start == (unsigned long)at && ino == st.st_ino) ok = 1;
  }
  if (f) fclose(f);
  return ok;
}
static struct sockaddr_ll name_ll(int fd) {
  struct sockaddr_ll a = {0};
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  return a;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int lo = if_nametoindex("lo");
  int fg = 0x4000 | (getpid() & 0x3fff);
  int p1 = socket(AF_PACKET, SOCK_RAW, 0);
  if (p1 < 0) RT_FAIL("p1: %s", strerror(errno));
  seti(p1, PACKET_VERSION, TPACKET_V2);
  seti(p1, PACKET_AUXDATA, 1);
  struct tpacket_req r = { .tp_block_size = 4096, .tp_block_nr = 1, .tp_frame_size = 1024, .tp_frame_nr = 4 };
  set(p1, PACKET_RX_RING, &r, sizeof r);
  if (member(p1, PACKET_ADD_MEMBERSHIP, lo, PACKET_MR_PROMISC, 0) || member(p1, PACKET_ADD_MEMBERSHIP, lo, PACKET_MR_PROMISC, 0)) RT_FAIL("promisc: %s", strerror(errno));
  if (!strcmp(rt_mode, "bypass")) seti(p1, PACKET_QDISC_BYPASS, 1);
  if (!strcmp(rt_mode, "closed")) {
    /* A ring still mapped after its socket was closed (which the dump refuses). */
    int p5 = socket(AF_PACKET, SOCK_RAW, 0);
    set(p5, PACKET_RX_RING, &r, sizeof r);
    if (mmap(NULL, 4096, PROT_READ, MAP_SHARED, p5, 0) == MAP_FAILED) RT_FAIL("mmap p5: %s", strerror(errno));
    close(p5);
  }
  void *ring = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, p1, 0);
  if (ring == MAP_FAILED) RT_FAIL("mmap p1's ring: %s", strerror(errno));

  int p2 = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK, htons(ETH_P_IP));
  struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_ifindex = lo };
  if (p2 < 0 || bind(p2, (struct sockaddr *)&ll, sizeof ll)) RT_FAIL("p2: %s", strerror(errno));
  seti(p2, PACKET_RESERVE, 8);
  seti(p2, PACKET_ORIGDEV, 1);
  seti(p2, PACKET_FANOUT, fg | PACKET_FANOUT_HASH << 16);
  if (member(p2, PACKET_ADD_MEMBERSHIP, lo, PACKET_MR_UNICAST, 6)) RT_FAIL("unicast: %s", strerror(errno));
  set(p2, PACKET_TX_RING, &r, sizeof r);

  int p3 = socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_ALL));
  struct sockaddr sp = { .sa_family = AF_PACKET };
  strcpy(sp.sa_data, "lo");
  if (p3 < 0 || bind(p3, &sp, sizeof sp)) RT_FAIL("p3: %s", strerror(errno));
  int p4 = socket(AF_PACKET, SOCK_PACKET, htons(ETH_P_ALL));
  if (p4 < 0) RT_FAIL("p4: %s", strerror(errno));

  rt_ready("p1=%d p2=%d p3=%d p4=%d fg=%d ring=%p\n", p1, p2, p3, p4, fg, ring);
  rt_wait_term();

  struct sockaddr_ll a = name_ll(p1);
  if (a.sll_ifindex != 0 || a.sll_protocol != 0) RT_FAIL("p1 bound to %d/0x%x, want 0/0", a.sll_ifindex, ntohs(a.sll_protocol));
  a = name_ll(p2);
  if (a.sll_ifindex != lo || a.sll_protocol != htons(ETH_P_IP)) RT_FAIL("p2 bound to %d/0x%x, want %d/0x800", a.sll_ifindex, ntohs(a.sll_protocol), lo);
  if (opt(p1, PACKET_VERSION) != TPACKET_V2) RT_FAIL("p1 version %d, want %d", opt(p1, PACKET_VERSION), TPACKET_V2);
  if (opt(p1, PACKET_AUXDATA) != 1 || opt(p2, PACKET_AUXDATA) != 0) RT_FAIL("PACKET_AUXDATA %d/%d, want 1/0", opt(p1, PACKET_AUXDATA), opt(p2, PACKET_AUXDATA));
  if (opt(p2, PACKET_RESERVE) != 8 || opt(p2, PACKET_ORIGDEV) != 1) RT_FAIL("p2 reserve %d origdev %d, want 8 1", opt(p2, PACKET_RESERVE), opt(p2, PACKET_ORIGDEV));
  if (opt(p2, PACKET_FANOUT) != (fg | PACKET_FANOUT_HASH << 16) || opt(p1, PACKET_FANOUT) != 0) RT_FAIL("fanout 0x%x/0x%x, want 0x%x/0", opt(p2, PACKET_FANOUT), opt(p1, PACKET_FANOUT), fg | PACKET_FANOUT_HASH << 16);
  if (!(fcntl(p2, F_GETFL) & O_NONBLOCK)) RT_FAIL("p2 lost O_NONBLOCK");
  if (!mapped_from(ring, p1)) RT_FAIL("p1's ring is not mapped at %p any more", ring);
  if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, p1, 0) == MAP_FAILED) RT_FAIL("p1 has no RX ring to map: %s", strerror(errno));
  if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, p2, 0) == MAP_FAILED) RT_FAIL("p2 has no TX ring to map: %s", strerror(errno));
  /* A unicast address on lo (which filters none) makes it promiscuous too: that one goes first. */
  member(p2, PACKET_DROP_MEMBERSHIP, lo, PACKET_MR_UNICAST, 6);
  /* Added twice, the membership keeps lo promiscuous after one drop (a drop never fails: the flag tells). */
  if (!promisc()) RT_FAIL("lo is not promiscuous");
  if (member(p1, PACKET_DROP_MEMBERSHIP, lo, PACKET_MR_PROMISC, 0) || !promisc()) RT_FAIL("promisc membership gone after one drop");
  member(p1, PACKET_DROP_MEMBERSHIP, lo, PACKET_MR_PROMISC, 0);
  struct sockaddr s3 = {0};
  socklen_t l = sizeof s3;
  if (getsockname(p3, &s3, &l) || strcmp(s3.sa_data, "lo")) RT_FAIL("p3 bound to '%s', want 'lo'", s3.sa_data);
  l = sizeof s3;
  memset(&s3, 0, sizeof s3);
  if (getsockname(p4, &s3, &l) || s3.sa_data[0]) RT_FAIL("p4 bound to '%s'", s3.sa_data);

  /* p2 sees IP packets on lo: send one. */
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  sendto(u, "pkt", 3, 0, (struct sockaddr *)&to, sizeof to);
  struct pollfd p = { .fd = p2, .events = POLLIN };
  char b[2048];
  if (poll(&p, 1, 2000) != 1 || recv(p2, b, sizeof b, 0) <= 0) RT_FAIL("p2 received no IP packet on lo");
  rt_pass();
}
