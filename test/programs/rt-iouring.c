/* rt-iouring: an io_uring instance (liburing) that comes back through dump and restore.
 * usage: rt-iouring OUTFILE DIR [basic|bufs|files|sqpoll|inflight|eventfd[-si|-async|-only|-unreaped|-defer]|pbuf[-legacy][-si]|fileonly|personality[-si]|restrict|disabled]
 * basic: 8 SQ entries; thousands of file writes and reads, timeouts, an accept and NOPs before
 *   the dump; one completion left unreaped in the CQ ring and one SQE queued but not submitted.
 *   After SIGTERM: the leftover completion is there, the queued SQE completes, the ring's indexes
 *   (as the program sees them) went on from where they were, and the same I/O works again.
 * bufs: the same with two registered buffers (READ_FIXED/WRITE_FIXED); bufs-sparse: in slots 0
 *   and 2 of a table of three.
 * sqpoll: the same on an SQPOLL ring (sq_thread_idle 50 ms: after restore its thread must sleep
 *   within 400 ms of the last request).
 * files: the same with a registered file table of three slots, sparse in the middle: the data file
 *   (slot 0, for the reads and writes) and the listening socket (slot 2, for the accepts), used
 *   with IOSQE_FIXED_FILE only.
 * eventfd, eventfd-si, eventfd-async: an eventfd registered on the ring (a SINGLE_ISSUER ring in
 *   eventfd-si; registered async in eventfd-async), counting 3 reaped completions at the dump (0 when
 *   async: the NOPs complete inline). After SIGTERM: the eventfd's count is as it was, and a new
 *   completion signals it again (async: an inline one does not, one from a worker thread does).
 * eventfd-only, eventfd-unreaped, eventfd-defer: an eventfd closed after it was registered, or with
 *   a completion left unreaped, or on a DEFER_TASKRUN ring: cryo refuses, and the eventfd's count
 *   and registration are as before after SIGTERM.
 * pbuf, pbuf-legacy: a buffer ring (group 5) or provided buffers (group 7), which cryo refuses: after
 *   SIGTERM a read with IOSQE_BUFFER_SELECT still gets one of them. pbuf-si, pbuf-legacy-si: the same
 *   on a SINGLE_ISSUER ring (the buffer ring's group is 40000).
 * fileonly: a registered file no descriptor of the task holds, which cryo refuses: the ring works on after.
 * personality: personalities 1 and 2 registered, 1 unregistered again; cryo refuses (naming id 2)
 *   and must leave them as they were: after SIGTERM a request with personality 2 runs, one with 1
 *   fails, and the next registration gets id 3, as it would have without cryo. personality-si: the
 *   same on a SINGLE_ISSUER ring.
 * restrict: a ring set up disabled, restricted (register opcodes: PROBE only; the SQE opcodes work
 *   uses) and enabled; disabled: the same never enabled. cryo refuses both; the ring works on after
 *   (disabled: once the program enables it), and an opcode it does not allow fails with EACCES.
 * inflight: a read on an empty pipe is in flight: cryo refuses the dump; the program goes on and,
 *   after SIGTERM, writes the pipe and gets that read's completion with the data. */
#include "rt.h"
#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/mman.h>

static struct io_uring ring;
static char path[4096];
static int file, lsk, port;
static struct iovec bufs[2];
static int fixed, fixed_files, read_slot = 1;

/* The file (or its registered slot) for a request. */
static int fd_of(struct io_uring_sqe *s, int fd, int slot) {
  if (!fixed_files) return fd;
  s->flags |= IOSQE_FIXED_FILE;
  return slot;
}

static struct io_uring_cqe *wait1(unsigned long long want_data) {
  struct io_uring_cqe *cqe;
  struct __kernel_timespec ts = { 10, 0 }; /* a ring that lost its requests fails, not hangs */
  int e = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
  if (e) RT_FAIL("no completion for request %llu: %s", want_data, strerror(-e));
  if (cqe->user_data != want_data) RT_FAIL("completion user_data %llu, want %llu (res %d)", (unsigned long long)cqe->user_data, want_data, cqe->res);
  return cqe;
}

static void submit(void) {
  int e = io_uring_submit(&ring);
  if (e < 0) RT_FAIL("submit: %s", strerror(-e));
}

/* One write and read back of 512 bytes at slot i of the file, checked. */
static void rw_round(int i) {
  static char w[512] __attribute__((aligned(4096))), r[512];
  char *wp = fixed ? bufs[0].iov_base : w, *rp = fixed ? bufs[1].iov_base : r;
  memset(wp, 'a' + i % 26, 512);
  snprintf(wp, 32, "round %d", i);
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  if (fixed) io_uring_prep_write_fixed(s, file, wp, 512, (i % 64) * 512, 0);
  else io_uring_prep_write(s, file, wp, 512, (i % 64) * 512);
  s->fd = fd_of(s, file, 0);
  s->user_data = 1;
  submit();
  struct io_uring_cqe *c = wait1(1);
  if (c->res != 512) RT_FAIL("write round %d: %d", i, c->res);
  io_uring_cqe_seen(&ring, c);
  memset(rp, 0, 512);
  s = io_uring_get_sqe(&ring);
  if (fixed) io_uring_prep_read_fixed(s, file, rp, 512, (i % 64) * 512, read_slot);
  else io_uring_prep_read(s, file, rp, 512, (i % 64) * 512);
  s->fd = fd_of(s, file, 0);
  s->user_data = 2;
  submit();
  c = wait1(2);
  if (c->res != 512) RT_FAIL("read round %d: %d", i, c->res);
  io_uring_cqe_seen(&ring, c);
  if (memcmp(wp, rp, 512)) RT_FAIL("read round %d: other bytes than written", i);
}

static void timeout_round(void) {
  struct __kernel_timespec ts = { 0, 1000000 };
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  io_uring_prep_timeout(s, &ts, 0, 0);
  s->user_data = 3;
  submit();
  struct io_uring_cqe *c = wait1(3);
  if (c->res != -ETIME) RT_FAIL("timeout: %d", c->res);
  io_uring_cqe_seen(&ring, c);
}

static void accept_round(void) {
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  io_uring_prep_accept(s, lsk, NULL, NULL, SOCK_CLOEXEC);
  s->fd = fd_of(s, lsk, 2);
  s->user_data = 4;
  submit();
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(c, (struct sockaddr *)&a, sizeof a)) RT_FAIL("connect: %s", strerror(errno));
  struct io_uring_cqe *cqe = wait1(4);
  if (cqe->res < 0) RT_FAIL("accept: %s", strerror(-cqe->res));
  close(c); /* the client closes first: TIME_WAIT stays on its port, not the listener's */
  close(cqe->res);
  io_uring_cqe_seen(&ring, cqe);
}

static void nop(unsigned long long data, int do_submit) {
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  io_uring_prep_nop(s);
  s->user_data = data;
  if (do_submit) submit();
}

/* An SQPOLL thread posts a request's completion before it moves the SQ head past it: wait until
 * it has consumed everything submitted before reading the head. */
static void sq_settled(void) {
  for (int i = 0; io_uring_smp_load_acquire(ring.sq.khead) != *ring.sq.ktail; i++) {
    if (i == 20000) RT_FAIL("SQ head %u never reached the tail %u", *ring.sq.khead, *ring.sq.ktail);
    usleep(100);
  }
}

static void work(int rounds) {
  for (int i = 0; i < rounds; i++) {
    rw_round(i);
    if (i % 50 == 0) timeout_round();
    if (i % 500 == 0) accept_round();
  }
}

/* The eventfd's count now (0 when it reads nothing). */
static unsigned long long efd_count(int efd) {
  unsigned long long v = 0;
  if (read(efd, &v, 8) != 8 && errno != EAGAIN) RT_FAIL("read eventfd: %s", strerror(errno));
  return v;
}

/* An eventfd registered on the ring: see the top of this file. */
static void eventfd_mode(void) {
  int async = !strcmp(rt_mode, "eventfd-async"), only = !strcmp(rt_mode, "eventfd-only"), unreaped = !strcmp(rt_mode, "eventfd-unreaped");
  int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int e = async ? io_uring_register_eventfd_async(&ring, efd) : io_uring_register_eventfd(&ring, efd);
  if (e) RT_FAIL("register eventfd: %s", strerror(-e));
  work(10);
  if (only) { close(efd); efd = -1; }
  else efd_count(efd);
  for (int i = 0; i < 3; i++) { nop(5, 1); io_uring_cqe_seen(&ring, wait1(5)); }
  if (unreaped) { nop(6, 1); struct io_uring_cqe *c; if (io_uring_wait_cqe(&ring, &c)) RT_FAIL("the unreaped completion"); }
  unsigned long long want = async ? 0 : unreaped ? 4 : 3;
  rt_ready("ringfd=%d efd=%d\n", ring.ring_fd, efd);
  rt_wait_term();
  if (efd >= 0) {
    unsigned long long v = efd_count(efd);
    /* 6.18 signals a DEFER_TASKRUN ring's eventfd once whenever its thread stops (SIGSTOP does it
     * as well as a tracer's stop): one more is the kernel's. */
    int defer = !strcmp(rt_mode, "eventfd-defer");
    if (v != want && !(defer && v == want + 1)) RT_FAIL("eventfd count %llu, want %llu", v, want);
  }
  if (unreaped) io_uring_cqe_seen(&ring, wait1(6));
  nop(7, 1);
  io_uring_cqe_seen(&ring, wait1(7));
  if (efd >= 0 && async) {
    if (efd_count(efd) != 0) RT_FAIL("an inline completion signalled the eventfd registered async");
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    io_uring_prep_nop(s);
    s->flags |= IOSQE_ASYNC; /* run by a worker thread, which posts its completion */
    s->user_data = 8;
    submit();
    io_uring_cqe_seen(&ring, wait1(8));
  }
  if (efd >= 0) {
    struct pollfd pf = { .fd = efd, .events = POLLIN };
    if (poll(&pf, 1, 2000) != 1) RT_FAIL("no eventfd signal after a completion (the eventfd is not registered)");
    unsigned long long v = efd_count(efd);
    if (v != 1) RT_FAIL("eventfd count %llu after one completion, want 1", v);
  }
  work(10);
  rt_pass();
}

/* Provided buffers: see the top of this file. */
static void pbuf_mode(void) {
  static char pool[4][64];
  int ringed = !strcmp(rt_mode, "pbuf") || !strcmp(rt_mode, "pbuf-si");
  int group = !strcmp(rt_mode, "pbuf-si") ? 40000 : ringed ? 5 : 7;
  if (ringed) {
    struct io_uring_buf_ring *br = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (br == MAP_FAILED) RT_FAIL("mmap");
    struct io_uring_buf_reg reg = { .ring_addr = (unsigned long)br, .ring_entries = 4, .bgid = group };
    int e = io_uring_register_buf_ring(&ring, &reg, 0);
    if (e) RT_FAIL("register_buf_ring: %s", strerror(-e));
    io_uring_buf_ring_init(br);
    for (int i = 0; i < 4; i++) io_uring_buf_ring_add(br, pool[i], 64, i, io_uring_buf_ring_mask(4), i);
    io_uring_buf_ring_advance(br, 4);
  } else {
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    io_uring_prep_provide_buffers(s, pool, 64, 4, group, 0);
    s->user_data = 3;
    submit();
    struct io_uring_cqe *c = wait1(3);
    if (c->res < 0) RT_FAIL("provide_buffers: %d", c->res);
    io_uring_cqe_seen(&ring, c);
  }
  rt_ready("ringfd=%d\n", ring.ring_fd);
  rt_wait_term();
  if (pwrite(file, "provided", 8, 0) != 8) RT_FAIL("pwrite");
  struct io_uring_sqe *s = io_uring_get_sqe(&ring);
  io_uring_prep_read(s, file, NULL, 64, 0);
  s->flags |= IOSQE_BUFFER_SELECT;
  s->buf_group = group;
  s->user_data = 4;
  submit();
  struct io_uring_cqe *c = wait1(4);
  if (c->res != 8 || !(c->flags & IORING_CQE_F_BUFFER)) RT_FAIL("a read into a provided buffer: %d (flags 0x%x)", c->res, c->flags);
  int bid = c->flags >> IORING_CQE_BUFFER_SHIFT;
  if (bid > 3 || memcmp(pool[bid], "provided", 8)) RT_FAIL("buffer %d does not hold what was read", bid);
  rt_pass();
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  snprintf(path, sizeof path, "%s/iouring-data", argv[2]);
  file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file < 0) RT_FAIL("open: %s", strerror(errno));
  lsk = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  if (bind(lsk, (struct sockaddr *)&a, sizeof a) || listen(lsk, 8) || getsockname(lsk, (struct sockaddr *)&a, &al)) RT_FAIL("listen: %s", strerror(errno));
  port = ntohs(a.sin_port);

  struct io_uring_params p = { 0 };
  int restrict_ = !strcmp(rt_mode, "restrict"), disabled = !strcmp(rt_mode, "disabled");
  if (!strcmp(rt_mode, "sqpoll")) { p.flags = IORING_SETUP_SQPOLL; p.sq_thread_idle = 50; }
  if (!strcmp(rt_mode, "eventfd-si") || !strcmp(rt_mode, "pbuf-si") || !strcmp(rt_mode, "pbuf-legacy-si")
      || !strcmp(rt_mode, "personality-si")) p.flags = IORING_SETUP_SINGLE_ISSUER;
  if (!strcmp(rt_mode, "eventfd-defer")) p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (restrict_ || disabled) p.flags = IORING_SETUP_R_DISABLED;
  int e = io_uring_queue_init_params(8, &ring, &p);
  if (e) RT_FAIL("queue_init: %s", strerror(-e));
  if (restrict_ || disabled) {
    static const int ops[] = { IORING_OP_NOP, IORING_OP_READ, IORING_OP_WRITE, IORING_OP_TIMEOUT, IORING_OP_ACCEPT };
    struct io_uring_restriction res[6] = { 0 };
    for (int i = 0; i < 5; i++) { res[i].opcode = IORING_RESTRICTION_SQE_OP; res[i].sqe_op = ops[i]; }
    res[5].opcode = IORING_RESTRICTION_REGISTER_OP;
    res[5].register_op = IORING_REGISTER_PROBE;
    if (syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res, 6)) RT_FAIL("register restrictions: %s", strerror(errno));
    if (restrict_ && syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0)) RT_FAIL("enable: %s", strerror(errno));
    rt_ready("ringfd=%d\n", ring.ring_fd);
    rt_wait_term();
    if (disabled && syscall(__NR_io_uring_register, ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0)) RT_FAIL("enable: %s", strerror(errno));
    work(10);
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    io_uring_prep_fsync(s, file, 0);
    s->user_data = 9;
    submit();
    struct io_uring_cqe *c = wait1(9);
    if (c->res != -EACCES) RT_FAIL("fsync on the restricted ring: %d, not -EACCES", c->res);
    rt_pass();
  }

  if (!strncmp(rt_mode, "personality", 11)) {
    int p1 = io_uring_register_personality(&ring), p2 = io_uring_register_personality(&ring);
    if (p1 != 1 || p2 != 2) RT_FAIL("personalities %d and %d, not 1 and 2", p1, p2);
    if (io_uring_unregister_personality(&ring, 1)) RT_FAIL("unregister personality 1");
    rt_ready("ringfd=%d\n", ring.ring_fd);
    rt_wait_term();
    for (int id = 1; id <= 2; id++) {
      struct io_uring_sqe *s = io_uring_get_sqe(&ring);
      io_uring_prep_nop(s);
      s->personality = id;
      s->user_data = 10 + id;
      submit();
      struct io_uring_cqe *c = wait1(10 + id);
      if (c->res != (id == 2 ? 0 : -EINVAL)) RT_FAIL("a request with personality %d: %d", id, c->res);
      io_uring_cqe_seen(&ring, c);
    }
    int p3 = io_uring_register_personality(&ring);
    if (p3 != 3) RT_FAIL("the next personality is %d, not 3", p3);
    work(10);
    rt_pass();
  }
  if (!strcmp(rt_mode, "bufs") || !strcmp(rt_mode, "bufs-sparse")) {
    for (int i = 0; i < 2; i++) {
      bufs[i].iov_base = aligned_alloc(4096, 8192);
      bufs[i].iov_len = 8192;
    }
    /* bufs-sparse: the read buffer in slot 2, slot 1 empty. */
    struct iovec table[3] = { bufs[0], { 0 }, bufs[1] };
    if (!strcmp(rt_mode, "bufs-sparse")) { e = io_uring_register_buffers(&ring, table, 3); read_slot = 2; }
    else e = io_uring_register_buffers(&ring, bufs, 2);
    if (e) RT_FAIL("register_buffers: %s", strerror(-e));
    fixed = 1;
  }

  if (!strcmp(rt_mode, "files")) {
    int table[3] = { file, -1, lsk };
    e = io_uring_register_files(&ring, table, 3);
    if (e) RT_FAIL("register_files: %s", strerror(-e));
    fixed_files = 1;
  }

  if (!strncmp(rt_mode, "eventfd", 7)) eventfd_mode();

  if (!strncmp(rt_mode, "pbuf", 4)) pbuf_mode();

  if (!strcmp(rt_mode, "fileonly")) {
    /* What cryo refuses: the dump fails and the ring works on. */
    char only[4200];
    snprintf(only, sizeof only, "%s-only", path);
    int f = open(only, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    e = io_uring_register_files(&ring, &f, 1);
    close(f); /* the ring alone holds it */
    if (e) RT_FAIL("register: %s", strerror(-e));
    rt_ready("ringfd=%d\n", ring.ring_fd);
    rt_wait_term();
    work(10);
    rt_pass();
  }

  if (!strcmp(rt_mode, "inflight")) {
    int pp[2];
    if (pipe2(pp, O_CLOEXEC)) RT_FAIL("pipe");
    static char rb[16];
    struct io_uring_sqe *s = io_uring_get_sqe(&ring);
    io_uring_prep_read(s, pp[0], rb, sizeof rb, 0);
    s->user_data = 77;
    submit();
    rt_ready("ringfd=%d\n", ring.ring_fd);
    rt_wait_term();
    if (write(pp[1], "late data", 9) != 9) RT_FAIL("write pipe");
    struct io_uring_cqe *c = wait1(77);
    if (c->res != 9 || memcmp(rb, "late data", 9)) RT_FAIL("the read in flight completed with %d", c->res);
    rt_pass();
  }

  work(2000);
  for (int i = 0; i < 1000; i++) {
    nop(5, 1);
    io_uring_cqe_seen(&ring, wait1(5));
  }
  nop(0xc0ffee, 1); /* completes, left unreaped */
  struct io_uring_cqe *left;
  if (io_uring_wait_cqe(&ring, &left) || left->user_data != 0xc0ffee) RT_FAIL("leftover completion");
  sq_settled();
  nop(0xbeef, 0); /* queued, not submitted */
  unsigned sqhead = *ring.sq.khead, cqtail = *ring.cq.ktail;
  rt_ready("ringfd=%d sqhead=%u cqtail=%u\n", ring.ring_fd, sqhead, cqtail);
  rt_wait_term();

  if (*ring.sq.khead != sqhead || *ring.cq.ktail != cqtail) RT_FAIL("ring indexes SQ head %u, CQ tail %u, want %u and %u", *ring.sq.khead, *ring.cq.ktail, sqhead, cqtail);
  if (io_uring_peek_cqe(&ring, &left) || left->user_data != 0xc0ffee) RT_FAIL("the unreaped completion is gone");
  io_uring_cqe_seen(&ring, left);
  submit();
  io_uring_cqe_seen(&ring, wait1(0xbeef));
  sq_settled();
  if (*ring.sq.khead != sqhead + 1 || *ring.cq.ktail != cqtail + 1) RT_FAIL("after one more request: SQ head %u, CQ tail %u", *ring.sq.khead, *ring.cq.ktail);
  /* Another file: the dumped one stays as it was, for the next restore of the same images. */
  snprintf(path, sizeof path, "%s/iouring-data2", argv[2]);
  file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file < 0) RT_FAIL("open: %s", strerror(errno));
  if (fixed_files && (e = io_uring_register_files_update(&ring, 0, &file, 1)) != 1) RT_FAIL("files_update: %d", e);
  work(600);
  if (!strcmp(rt_mode, "sqpoll")) {
    /* sq_thread_idle 50 ms: its thread sleeps soon after the last request, not after the kernel's 1 s. */
    sq_settled();
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    long ms = 0;
    while (!(io_uring_smp_load_acquire(ring.sq.kflags) & IORING_SQ_NEED_WAKEUP) && ms < 2000) {
      usleep(1000);
      clock_gettime(CLOCK_MONOTONIC, &b);
      ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    }
    if (ms > 400) RT_FAIL("the SQPOLL thread slept only %ld ms after the last request (its sq_thread_idle is 50 ms)", ms);
  }
  rt_pass();
}
