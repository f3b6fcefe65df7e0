/* rt-netlink: netlink sockets, checked after a round trip.
 * usage: rt-netlink OUTFILE DIR [unread]
 *   rt   NETLINK_ROUTE bound to port id PID+1000000 and group RTNLGRP_LINK, joined to group 33 by
 *        setsockopt (beyond bind's 32), NETLINK_EXT_ACK and NETLINK_GET_STRICT_CHK on
 *   dg   NETLINK_ROUTE, SOCK_DGRAM, never bound, O_NONBLOCK
 *   ua   NETLINK_USERSOCK bound to port id PID+2000000; ub: NETLINK_USERSOCK connected to ua
 * On SIGTERM: port ids, groups, options, type and flags are as they were; rt asks the kernel for
 * its links and gets an answer; ub sends to ua without an address and ua gets it from ub.
 * MODE unread: the kernel's answer to a request on rt is left unread (the dump refuses it). */
#include "rt.h"
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static int opt(int fd, int level, int name) {
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(fd, level, name, &v, &l)) RT_FAIL("getsockopt(%d, %d, %d): %s", fd, level, name, strerror(errno));
  return v;
}
static void set(int fd, int level, int name, int v) {
  if (setsockopt(fd, level, name, &v, sizeof v)) RT_FAIL("setsockopt(%d, %d, %d): %s", fd, level, name, strerror(errno));
}
static struct sockaddr_nl nl(unsigned pid, unsigned groups) {
  struct sockaddr_nl a = { .nl_family = AF_NETLINK, .nl_pid = pid, .nl_groups = groups };
  return a;
}
static unsigned portid(int fd) {
  struct sockaddr_nl a = {0};
  socklen_t l = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &l);
  return a.nl_pid;
}
static void ask_links(int fd) {
  struct { struct nlmsghdr h; struct ifinfomsg i; } req = {
    .h = { .nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 7 },
    .i = { .ifi_family = AF_UNSPEC },
  };
  if (send(fd, &req, sizeof req, 0) != sizeof req) RT_FAIL("rt: RTM_GETLINK: %s", strerror(errno));
}
static int readable(int fd, int ms) {
  struct pollfd p = { .fd = fd, .events = POLLIN };
  return poll(&p, 1, ms) == 1;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  unsigned me = getpid();
  int rt = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  struct sockaddr_nl a = nl(me + 1000000, 1 << (RTNLGRP_LINK - 1));
  if (rt < 0 || bind(rt, (struct sockaddr *)&a, sizeof a)) RT_FAIL("rt: %s", strerror(errno));
  set(rt, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, 33);
  set(rt, SOL_NETLINK, NETLINK_EXT_ACK, 1);
  set(rt, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
  int dg = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (dg < 0) RT_FAIL("dg: %s", strerror(errno));
  int ua = socket(AF_NETLINK, SOCK_RAW, NETLINK_USERSOCK);
  a = nl(me + 2000000, 0);
  if (ua < 0 || bind(ua, (struct sockaddr *)&a, sizeof a)) RT_FAIL("ua: %s", strerror(errno));
  int ub = socket(AF_NETLINK, SOCK_RAW, NETLINK_USERSOCK);
  if (ub < 0 || connect(ub, (struct sockaddr *)&a, sizeof a)) RT_FAIL("ub: %s", strerror(errno));
  unsigned ubport = portid(ub);
  if (!strcmp(rt_mode, "unread")) {
    ask_links(rt);
    if (!readable(rt, 2000)) RT_FAIL("rt: no answer to read");
  }
  rt_ready("rt=%d dg=%d ua=%d ub=%d ubport=%u\n", rt, dg, ua, ub, ubport);
  rt_wait_term();

  if (portid(rt) != me + 1000000) RT_FAIL("rt port id %u, want %u", portid(rt), me + 1000000);
  unsigned groups[4] = {0};
  socklen_t l = sizeof groups;
  if (getsockopt(rt, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &l)) RT_FAIL("NETLINK_LIST_MEMBERSHIPS: %s", strerror(errno));
  if (groups[0] != 1u << (RTNLGRP_LINK - 1) || groups[1] != 1u) RT_FAIL("rt groups 0x%x 0x%x, want 0x%x 0x1", groups[0], groups[1], 1u << (RTNLGRP_LINK - 1));
  if (!opt(rt, SOL_NETLINK, NETLINK_EXT_ACK) || !opt(rt, SOL_NETLINK, NETLINK_GET_STRICT_CHK) || opt(rt, SOL_NETLINK, NETLINK_PKTINFO))
    RT_FAIL("rt options EXT_ACK %d GET_STRICT_CHK %d PKTINFO %d, want 1 1 0", opt(rt, SOL_NETLINK, NETLINK_EXT_ACK), opt(rt, SOL_NETLINK, NETLINK_GET_STRICT_CHK), opt(rt, SOL_NETLINK, NETLINK_PKTINFO));
  if (opt(dg, SOL_SOCKET, SO_TYPE) != SOCK_DGRAM || opt(dg, SOL_SOCKET, SO_PROTOCOL) != NETLINK_ROUTE) RT_FAIL("dg is type %d protocol %d", opt(dg, SOL_SOCKET, SO_TYPE), opt(dg, SOL_SOCKET, SO_PROTOCOL));
  if (portid(dg) != 0) RT_FAIL("dg got port id %u", portid(dg));
  if (!(fcntl(dg, F_GETFL) & O_NONBLOCK)) RT_FAIL("dg lost O_NONBLOCK");
  if (portid(ua) != me + 2000000 || portid(ub) != ubport) RT_FAIL("ua/ub port ids %u/%u, want %u/%u", portid(ua), portid(ub), me + 2000000, ubport);

  ask_links(rt);
  char buf[8192];
  ssize_t n = readable(rt, 2000) ? recv(rt, buf, sizeof buf, 0) : -1;
  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  if (n < (ssize_t)sizeof *h || h->nlmsg_seq != 7 || (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != NLMSG_DONE)) RT_FAIL("rt: no answer from the kernel (%zd bytes)", n);
  struct nlmsghdr m = { .nlmsg_len = sizeof m, .nlmsg_type = 0x1234, .nlmsg_seq = 9 };
  if (send(ub, &m, sizeof m, 0) != sizeof m) RT_FAIL("ub send (connected?): %s", strerror(errno));
  struct sockaddr_nl from = {0};
  socklen_t fl = sizeof from;
  if (!readable(ua, 2000) || recvfrom(ua, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl) != sizeof m || from.nl_pid != ubport)
    RT_FAIL("ua got nothing from ub's port id %u (from %u)", ubport, from.nl_pid);
  rt_pass();
}
