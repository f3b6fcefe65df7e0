/* rt-unix: unix sockets of every shape, checked after a round trip.
 * usage: rt-unix OUTFILE DIR [outside-stream|outside-dgram]
 *   sa,sb  STREAM socketpair: "stream-a-to-b-1" + "stream-a-to-b-2" queued at sb, "b-to-a" at sa; sa O_NONBLOCK
 *   da,db  DGRAM socketpair: 3 datagrams queued at db, 1 at da; da SO_SNDBUF 65536
 *   qa,qb  SEQPACKET socketpair: 2 packets queued at qb, then qa shut down for writing
 *   l      STREAM listener on DIR/listen.sock; c a client of it, s its accepted end ("client-hello"
 *          queued at s, "server-hi" at c); p a second client not accepted yet
 *   a      STREAM listener on the abstract name @cryo-rt-unix-PID
 *   b      STREAM socket bound to @cryo-rt-unix-b-PID, neither listening nor connected (it
 *          listens after restore and takes a connection)
 *   m      SEQPACKET socket bound to @cryo-rt-unix-m-PID, neither listening nor connected, and w an
 *          unbound unconnected SEQPACKET socket: after restore m listens and w connects to it
 *   d      DGRAM bound to DIR/dgram.sock; k a DGRAM client connected to it; u an unbound DGRAM
 *          socket; queued at d: "u-to-d-1" (from u), "k-to-d" (from k)
 *   e      DGRAM bound to the abstract name @cryo-rt-unix-e-PID; queued: "u-to-e-1", "u-to-e-2" (from u)
 *   r      DGRAM bound to the relative name rel.sock (in DIR, the working directory)
 *   g      DGRAM bound to DIR/gone.sock, which was then unlinked (bound to a deleted name)
 *   h,o    DGRAM sockets both bound to DIR/shared.sock: h's file was renamed away while o bound the
 *          name, then renamed back, so the file there is h's and o's name counts as deleted (restore
 *          must bind o with h's file in the way); after restore the file is there and reaches h
 *   DIR/listen.sock has mode 0711
 *   outside-stream: x is a STREAM socketpair end whose peer a process outside the dump holds
 *   outside-dgram:  x is a DGRAM socket connected to DIR/ext.sock, bound by a process outside the
 *          dump, which appends every datagram it gets to DIR/ext.out; after SIGTERM x sends "after-restore"
 * READY reports the descriptors and helper=PID of the outside process. */
#include "rt.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t un_addr(struct sockaddr_un *a, const char *path, int abstract) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (abstract) { memcpy(a->sun_path + 1, path, n); return offsetof(struct sockaddr_un, sun_path) + 1 + n; }
  memcpy(a->sun_path, path, n);
  return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

static int sock_at(int type, const char *name, int abstract, int listening) {
  struct sockaddr_un a;
  socklen_t n = un_addr(&a, name, abstract);
  int fd = socket(AF_UNIX, type, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, n)) RT_FAIL("bind %s: %s", name, strerror(errno));
  if (listening && listen(fd, 5)) RT_FAIL("listen %s", name);
  return fd;
}

static int connect_to(int type, const char *name, int abstract) {
  struct sockaddr_un a;
  socklen_t n = un_addr(&a, name, abstract);
  int fd = socket(AF_UNIX, type, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, n)) RT_FAIL("connect %s: %s", name, strerror(errno));
  return fd;
}

static void put(int fd, const char *s) {
  if (send(fd, s, strlen(s), MSG_DONTWAIT) != (ssize_t)strlen(s)) RT_FAIL("send %s: %s", s, strerror(errno));
}
static void put_to(int fd, const char *s, const char *name, int abstract) {
  struct sockaddr_un a;
  socklen_t n = un_addr(&a, name, abstract);
  if (sendto(fd, s, strlen(s), MSG_DONTWAIT, (struct sockaddr *)&a, n) != (ssize_t)strlen(s)) RT_FAIL("sendto %s: %s", name, strerror(errno));
}

/* The next packet (or stream bytes) must be exactly WANT. */
static void get(int fd, const char *what, const char *want) {
  char b[256];
  ssize_t n = recv(fd, b, sizeof b - 1, MSG_DONTWAIT);
  if (n < 0) RT_FAIL("%s: %s, want '%s'", what, strerror(errno), want);
  b[n] = 0;
  if (strcmp(b, want)) RT_FAIL("%s got '%s', want '%s'", what, b, want);
}
static void empty(int fd, const char *what) {
  char b[16];
  ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
  if (!(n < 0 && errno == EAGAIN)) RT_FAIL("%s: more data queued (%zd)", what, n);
}

/* The socket's own name must be NAME (abstract or path). */
static void named(int fd, const char *what, const char *name, int abstract) {
  struct sockaddr_un a, want;
  socklen_t n = sizeof a, wn = un_addr(&want, name, abstract);
  if (getsockname(fd, (struct sockaddr *)&a, &n)) RT_FAIL("getsockname %s", what);
  if (!abstract) wn--; /* the kernel reports path names without their NUL only when bound so */
  if (!(n >= wn && !memcmp(&a, &want, wn))) RT_FAIL("%s: name changed (%u bytes)", what, n);
}

/* A new connection to the listener works both ways. */
static void fresh(int l, const char *name, int abstract, const char *what) {
  int c = connect_to(SOCK_STREAM, name, abstract);
  int s = accept(l, NULL, NULL);
  if (s < 0) RT_FAIL("%s: accept: %s", what, strerror(errno));
  put(c, "ping");
  get(s, what, "ping");
  put(s, "pong");
  get(c, what, "pong");
  close(c);
  close(s);
}

static pid_t outside(int keep) {
  int p[2];
  if (pipe(p)) RT_FAIL("pipe");
  pid_t mid = fork();
  if (mid == 0) {
    pid_t h = fork();
    if (h == 0) {
      setsid(); /* the task's PID must not live on as this process's session or group */
      for (int fd = 3; fd < 1024; fd++) if (fd != keep) close(fd);
      char b[256];
      for (;;) {
        ssize_t n = recv(keep, b, sizeof b, 0);
        if (n <= 0) _exit(0);
        int o = open(rt_mode[8] == 'd' ? "ext.out" : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (write(o, b, n) != n) _exit(1);
        close(o);
      }
    }
    if (write(p[1], &h, sizeof h) != sizeof h) _exit(1);
    _exit(0);
  }
  pid_t h = -1;
  if (read(p[0], &h, sizeof h) != sizeof h) RT_FAIL("helper pid");
  waitpid(mid, NULL, 0);
  close(p[0]);
  close(p[1]);
  return h;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (chdir(argv[2])) RT_FAIL("chdir");
  char listen_path[600], dgram_path[600], ext_path[600], gone_path[600], shared_path[600], aside_path[600], abs_a[64], abs_e[64], abs_b[64], abs_m[64];
  snprintf(listen_path, sizeof listen_path, "%s/listen.sock", argv[2]);
  snprintf(dgram_path, sizeof dgram_path, "%s/dgram.sock", argv[2]);
  snprintf(ext_path, sizeof ext_path, "%s/ext.sock", argv[2]);
  snprintf(gone_path, sizeof gone_path, "%s/gone.sock", argv[2]);
  snprintf(shared_path, sizeof shared_path, "%s/shared.sock", argv[2]);
  snprintf(aside_path, sizeof aside_path, "%s/shared.aside", argv[2]);
  snprintf(abs_a, sizeof abs_a, "cryo-rt-unix-%d", getpid());
  snprintf(abs_e, sizeof abs_e, "cryo-rt-unix-e-%d", getpid());
  snprintf(abs_b, sizeof abs_b, "cryo-rt-unix-b-%d", getpid());
  snprintf(abs_m, sizeof abs_m, "cryo-rt-unix-m-%d", getpid());

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) RT_FAIL("socketpair stream");
  int sa = sv[0], sb = sv[1];
  put(sa, "stream-a-to-b-1");
  put(sa, "stream-a-to-b-2");
  put(sb, "b-to-a");
  fcntl(sa, F_SETFL, O_NONBLOCK);

  if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) RT_FAIL("socketpair dgram");
  int da = sv[0], db = sv[1];
  put(da, "d1");
  put(da, "dgram-two");
  put(da, "third-datagram-3");
  put(db, "db-to-da");
  int sndbuf = 65536;
  if (setsockopt(da, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf)) RT_FAIL("SO_SNDBUF");
  socklen_t sl = sizeof sndbuf;
  getsockopt(da, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl);

  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv)) RT_FAIL("socketpair seqpacket");
  int qa = sv[0], qb = sv[1];
  put(qa, "seq-1");
  put(qa, "seq-22");
  shutdown(qa, SHUT_WR);

  int l = sock_at(SOCK_STREAM, listen_path, 0, 1);
  int c = connect_to(SOCK_STREAM, listen_path, 0);
  int s = accept(l, NULL, NULL);
  if (s < 0) RT_FAIL("accept");
  put(c, "client-hello");
  put(s, "server-hi");
  int p = connect_to(SOCK_STREAM, listen_path, 0);

  int a = sock_at(SOCK_STREAM, abs_a, 1, 1);
  int b = sock_at(SOCK_STREAM, abs_b, 1, 0);
  int m = sock_at(SOCK_SEQPACKET, abs_m, 1, 0);
  int w = socket(AF_UNIX, SOCK_SEQPACKET, 0);

  int d = sock_at(SOCK_DGRAM, dgram_path, 0, 0);
  int k = connect_to(SOCK_DGRAM, dgram_path, 0);
  int u = socket(AF_UNIX, SOCK_DGRAM, 0);
  put_to(u, "u-to-d-1", dgram_path, 0);
  put(k, "k-to-d");
  int e = sock_at(SOCK_DGRAM, abs_e, 1, 0);
  int r = sock_at(SOCK_DGRAM, "rel.sock", 0, 0);
  int g = sock_at(SOCK_DGRAM, gone_path, 0, 0);
  unlink(gone_path);
  int h = sock_at(SOCK_DGRAM, shared_path, 0, 0);
  if (rename(shared_path, aside_path)) RT_FAIL("rename shared.sock: %s", strerror(errno));
  int o = sock_at(SOCK_DGRAM, shared_path, 0, 0);
  if (rename(aside_path, shared_path)) RT_FAIL("rename shared.aside: %s", strerror(errno));
  if (chmod(listen_path, 0711)) RT_FAIL("chmod");
  put_to(u, "u-to-e-1", abs_e, 1);
  put_to(u, "u-to-e-2", abs_e, 1);

  int x = -1;
  pid_t helper = 0;
  if (!strcmp(rt_mode, "outside-stream")) {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) RT_FAIL("socketpair outside");
    x = sv[0];
    helper = outside(sv[1]);
    close(sv[1]);
  } else if (!strcmp(rt_mode, "outside-dgram")) {
    int h = sock_at(SOCK_DGRAM, ext_path, 0, 0);
    x = connect_to(SOCK_DGRAM, ext_path, 0);
    helper = outside(h);
    close(h);
  }

  rt_ready("sa=%d sb=%d da=%d db=%d qa=%d qb=%d l=%d c=%d s=%d p=%d a=%d d=%d k=%d u=%d e=%d r=%d g=%d h=%d o=%d m=%d w=%d x=%d helper=%d\n",
           sa, sb, da, db, qa, qb, l, c, s, p, a, d, k, u, e, r, g, h, o, m, w, x, (int)helper);
  rt_wait_term();

  get(sb, "stream at b", "stream-a-to-b-1stream-a-to-b-2");
  empty(sb, "stream at b");
  get(sa, "stream at a", "b-to-a");
  if (!(fcntl(sa, F_GETFL) & O_NONBLOCK)) RT_FAIL("stream a lost O_NONBLOCK");
  if (fcntl(sb, F_GETFL) & O_NONBLOCK) RT_FAIL("stream b got O_NONBLOCK");
  put(sb, "new-b-to-a");
  get(sa, "stream at a after", "new-b-to-a");

  get(db, "dgram 1", "d1");
  get(db, "dgram 2", "dgram-two");
  get(db, "dgram 3", "third-datagram-3");
  empty(db, "dgram at b");
  get(da, "dgram at a", "db-to-da");
  int now = 0;
  sl = sizeof now;
  getsockopt(da, SOL_SOCKET, SO_SNDBUF, &now, &sl);
  if (now != sndbuf) RT_FAIL("dgram SO_SNDBUF %d, want %d", now, sndbuf);

  get(qb, "seqpacket 1", "seq-1");
  get(qb, "seqpacket 2", "seq-22");
  char z[8];
  if (recv(qb, z, sizeof z, MSG_DONTWAIT) != 0) RT_FAIL("seqpacket: no end of file after the shutdown");

  get(s, "accepted end", "client-hello");
  get(c, "client end", "server-hi");
  put(c, "more");
  get(s, "accepted end after", "more");
  int n = accept(l, NULL, NULL);
  if (n < 0) RT_FAIL("the pending connection was lost: %s", strerror(errno));
  put(n, "to-p");
  get(p, "pending client", "to-p");
  named(l, "path listener", listen_path, 0);
  fresh(l, listen_path, 0, "path listener");
  named(a, "abstract listener", abs_a, 1);
  fresh(a, abs_a, 1, "abstract listener");

  get(d, "bound dgram 1", "u-to-d-1");
  get(d, "bound dgram 2", "k-to-d");
  empty(d, "bound dgram");
  named(d, "bound dgram", dgram_path, 0);
  put(k, "k-again");
  get(d, "bound dgram again", "k-again");
  get(e, "abstract dgram 1", "u-to-e-1");
  get(e, "abstract dgram 2", "u-to-e-2");
  empty(e, "abstract dgram");
  named(e, "abstract dgram", abs_e, 1);
  put_to(u, "u-again", abs_e, 1);
  get(e, "abstract dgram again", "u-again");

  named(r, "relative dgram", "rel.sock", 0);
  put_to(u, "to-rel", "rel.sock", 0);
  get(r, "relative dgram", "to-rel");

  named(g, "deleted name", gone_path, 0);
  if (access(gone_path, F_OK) == 0) RT_FAIL("the deleted name %s exists again", gone_path);
  named(h, "socket with the file", shared_path, 0);
  named(o, "socket whose file was replaced", shared_path, 0);
  struct stat hs;
  if (stat(shared_path, &hs) || !S_ISSOCK(hs.st_mode)) RT_FAIL("%s is gone after restore", shared_path);
  if (access(aside_path, F_OK) == 0) RT_FAIL("%s is there after restore", aside_path);
  put_to(u, "to-shared", shared_path, 0);
  get(h, "socket with the file", "to-shared");
  empty(o, "socket whose file was replaced");
  struct stat ls;
  if (stat(listen_path, &ls) || (ls.st_mode & 07777) != 0711) RT_FAIL("listen.sock mode %o, want 711", ls.st_mode & 07777);

  named(b, "bound stream", abs_b, 1);
  if (listen(b, 1)) RT_FAIL("listen on the bound stream socket: %s", strerror(errno));
  int bc = connect_to(SOCK_STREAM, abs_b, 1);
  int bs = accept(b, NULL, NULL);
  if (bs < 0) RT_FAIL("accept on the bound stream socket: %s", strerror(errno));
  put(bc, "to-b");
  get(bs, "bound stream", "to-b");

  named(m, "bound seqpacket", abs_m, 1);
  int mt = 0;
  sl = sizeof mt;
  if (getsockopt(m, SOL_SOCKET, SO_TYPE, &mt, &sl) || mt != SOCK_SEQPACKET) RT_FAIL("bound seqpacket: type %d, want %d", mt, SOCK_SEQPACKET);
  if (listen(m, 1)) RT_FAIL("listen on the bound seqpacket socket: %s", strerror(errno));
  struct sockaddr_un ma;
  socklen_t man = un_addr(&ma, abs_m, 1);
  if (connect(w, (struct sockaddr *)&ma, man)) RT_FAIL("connect the unconnected seqpacket socket: %s", strerror(errno));
  int ms = accept(m, NULL, NULL);
  if (ms < 0) RT_FAIL("accept on the bound seqpacket socket: %s", strerror(errno));
  put(w, "to-m");
  get(ms, "bound seqpacket", "to-m");

  if (x >= 0 && !strcmp(rt_mode, "outside-dgram")) put(x, "after-restore");
  rt_pass();
}
