/* rt-iouring-flags: a ring set up with a setup flag that changes what the program sees, driven by
 * raw system calls (Debian's liburing 2.3 knows no NO_SQARRAY), checked for the flag's effect
 * after restore.
 * usage: rt-iouring-flags OUTFILE DIR MODE
 * sqe128: 128-byte SQEs (the second half of each filled with 0xff): the kernel must read SQE i at
 *   i * 128, or the requests' user_data do not come back.
 * cqe32: 32-byte CQEs: the kernel must write CQE i at i * 32 (the extra 16 bytes zero).
 * nosqarray: no SQ array (64 entries): the kernel must take SQE (tail & mask) itself.
 * nosqarray8: the same with 8 entries, whose 64- and 128-byte SQEs fill one page alike: cryo
 *   refuses it (it cannot tell SQE128 without an SQ array) and the ring works on.
 * taskrun: SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG: a read on an empty pipe completes when the
 *   pipe is written, and the kernel must set IORING_SQ_TASKRUN until the program asks for it.
 * iopoll: IOPOLL: a read of a regular (not O_DIRECT) file must fail with EOPNOTSUPP.
 * wait: a SPLICE from an empty pipe (an io_uring worker thread blocks in it) is in flight at READY;
 *   whoever writes the pipe (the test, through /proc/PID/fd/WRITEFD, while cryo waits; or the program
 *   after SIGTERM) completes it, and the program checks the completion and the data spliced.
 * ringfd: the ring registered at index 3 (IORING_REGISTER_RING_FDS): cryo refuses it (it cannot
 *   restore the registration) and the program works on through the registered index.
 * Each runs 300 requests through the ring (8 entries unless said) before READY, leaves one completion
 * unreaped, and after SIGTERM reaps it and runs 300 more. */
#include "rt.h"
#include <linux/io_uring.h>
#include <stdint.h>
#include <sys/mman.h>

#ifndef IORING_SETUP_NO_SQARRAY
#define IORING_SETUP_NO_SQARRAY (1U << 16)
#endif

static int ring, file, sqe_shift, cqe_shift, no_array;
/* What io_uring_enter is given: the ring's descriptor, or its registered index with IORING_ENTER_REGISTERED_RING. */
static int enter_fd, enter_flags;
static unsigned *sq_head, *sq_tail, *sq_mask, *sq_flags, *sq_array, *cq_head, *cq_tail, *cq_mask;
static unsigned char *sqes, *cqes;

static struct io_uring_sqe *sqe_at(unsigned i) { return (struct io_uring_sqe *)(sqes + ((size_t)i << (6 + sqe_shift))); }
static struct io_uring_cqe *cqe_at(unsigned i) { return (struct io_uring_cqe *)(cqes + ((size_t)i << (4 + cqe_shift))); }

static void push(const struct io_uring_sqe *tmpl, uint64_t data) {
  unsigned t = *sq_tail, i = t & *sq_mask;
  struct io_uring_sqe *s = sqe_at(i);
  *s = *tmpl;
  s->user_data = data;
  if (sqe_shift) memset(s + 1, 0xff, sizeof *s);
  if (!no_array) sq_array[i] = i;
  __atomic_store_n(sq_tail, t + 1, __ATOMIC_RELEASE);
}

static int reap(uint64_t data) {
  unsigned h = *cq_head;
  if (h == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) RT_FAIL("no completion for request %llu", (unsigned long long)data);
  struct io_uring_cqe *c = cqe_at(h & *cq_mask);
  if (c->user_data != data) RT_FAIL("completion user_data %llu, want %llu (res %d)", (unsigned long long)c->user_data, (unsigned long long)data, c->res);
  if (cqe_shift && (c->big_cqe[0] || c->big_cqe[1])) RT_FAIL("32-byte CQE %llu: extra bytes not zero", (unsigned long long)data);
  int res = c->res;
  __atomic_store_n(cq_head, h + 1, __ATOMIC_RELEASE);
  return res;
}

static int run1(const struct io_uring_sqe *tmpl, uint64_t data) {
  push(tmpl, data);
  long n = syscall(__NR_io_uring_enter, enter_fd, 1, 1, IORING_ENTER_GETEVENTS | enter_flags, NULL, 0);
  if (n != 1) RT_FAIL("io_uring_enter: %ld (%s)", n, strerror(errno));
  return reap(data);
}

static void work(int rounds, int base) {
  for (int i = 0; i < rounds; i++) {
    struct io_uring_sqe s = { .opcode = IORING_OP_NOP };
    int r = run1(&s, base + i);
    if (r != 0) RT_FAIL("nop %d: %d", i, r);
  }
}

/* The mode's own effect, checked before the dump and after restore. */
static void effect(void) {
  if (!strcmp(rt_mode, "taskrun")) {
    int pp[2];
    static char rb[8];
    if (pipe2(pp, O_CLOEXEC)) RT_FAIL("pipe");
    struct io_uring_sqe s = { .opcode = IORING_OP_READ, .fd = pp[0], .addr = (uintptr_t)rb, .len = sizeof rb };
    push(&s, 77);
    if (syscall(__NR_io_uring_enter, ring, 1, 0, 0, NULL, 0) != 1) RT_FAIL("submit read: %s", strerror(errno));
    if (write(pp[1], "x", 1) != 1) RT_FAIL("write pipe");
    if (!(__atomic_load_n(sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_TASKRUN)) RT_FAIL("no IORING_SQ_TASKRUN with a completion waiting (sq_flags 0x%x)", *sq_flags);
    if (syscall(__NR_io_uring_enter, ring, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) RT_FAIL("getevents: %s", strerror(errno));
    int r = reap(77);
    if (r != 1) RT_FAIL("the pipe read: %d", r);
    if (*sq_flags & IORING_SQ_TASKRUN) RT_FAIL("IORING_SQ_TASKRUN still set after getevents");
    close(pp[0]);
    close(pp[1]);
  } else if (!strcmp(rt_mode, "iopoll")) {
    static char rb[512];
    struct io_uring_sqe s = { .opcode = IORING_OP_READ, .fd = file, .addr = (uintptr_t)rb, .len = sizeof rb };
    int r = run1(&s, 88);
    if (r != -EOPNOTSUPP) RT_FAIL("a buffered read on the polled ring: %d, not -EOPNOTSUPP", r);
  }
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct io_uring_params p = { 0 };
  if (!strcmp(rt_mode, "sqe128")) p.flags = IORING_SETUP_SQE128;
  else if (!strcmp(rt_mode, "cqe32")) p.flags = IORING_SETUP_CQE32;
  else if (!strcmp(rt_mode, "nosqarray") || !strcmp(rt_mode, "nosqarray8")) p.flags = IORING_SETUP_NO_SQARRAY;
  else if (!strcmp(rt_mode, "taskrun")) p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  else if (!strcmp(rt_mode, "iopoll")) p.flags = IORING_SETUP_IOPOLL;
  else if (strcmp(rt_mode, "wait") && strcmp(rt_mode, "ringfd")) RT_FAIL("mode %s?", rt_mode);
  sqe_shift = !!(p.flags & IORING_SETUP_SQE128);
  cqe_shift = !!(p.flags & IORING_SETUP_CQE32);
  no_array = !!(p.flags & IORING_SETUP_NO_SQARRAY);
  char path[4096];
  snprintf(path, sizeof path, "%s/iouring-flags-data", argv[2]);
  file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file < 0 || write(file, path, 512) != 512) RT_FAIL("data file: %s", strerror(errno));
  ring = syscall(__NR_io_uring_setup, strcmp(rt_mode, "nosqarray") ? 8 : 64, &p);
  if (ring < 0) RT_FAIL("io_uring_setup: %s", strerror(errno));
  if (!(p.features & IORING_FEAT_SINGLE_MMAP)) RT_FAIL("no IORING_FEAT_SINGLE_MMAP");
  size_t sqsz = no_array ? 0 : p.sq_off.array + p.sq_entries * 4, cqsz = p.cq_off.cqes + ((size_t)p.cq_entries << (4 + cqe_shift));
  size_t rsz = sqsz > cqsz ? sqsz : cqsz;
  unsigned char *r = mmap(NULL, rsz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
  sqes = mmap(NULL, (size_t)p.sq_entries << (6 + sqe_shift), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (r == MAP_FAILED || sqes == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  sq_head = (unsigned *)(r + p.sq_off.head); sq_tail = (unsigned *)(r + p.sq_off.tail); sq_mask = (unsigned *)(r + p.sq_off.ring_mask);
  sq_flags = (unsigned *)(r + p.sq_off.flags); sq_array = (unsigned *)(r + p.sq_off.array);
  cq_head = (unsigned *)(r + p.cq_off.head); cq_tail = (unsigned *)(r + p.cq_off.tail); cq_mask = (unsigned *)(r + p.cq_off.ring_mask);
  cqes = r + p.cq_off.cqes;

  enter_fd = ring;
  if (!strcmp(rt_mode, "ringfd")) {
    struct io_uring_rsrc_update u = { .offset = 3, .data = ring };
    if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_RING_FDS, &u, 1) != 1) RT_FAIL("register ring fd: %s", strerror(errno));
    enter_fd = 3;
    enter_flags = IORING_ENTER_REGISTERED_RING;
  }
  work(300, 1000);
  effect();
  /* One completion left unreaped: the CQ ring is not empty at the dump. */
  struct io_uring_sqe nop = { .opcode = IORING_OP_NOP };
  push(&nop, 0xc0ffee);
  if (syscall(__NR_io_uring_enter, enter_fd, 1, 1, IORING_ENTER_GETEVENTS | enter_flags, NULL, 0) != 1) RT_FAIL("leftover nop: %s", strerror(errno));
  unsigned sqhead = *sq_head, cqtail = *cq_tail;
  if (!strcmp(rt_mode, "wait")) {
    int a[2], b[2];
    static char got[8];
    if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC)) RT_FAIL("pipe");
    struct io_uring_sqe s = { .opcode = IORING_OP_SPLICE, .fd = b[1], .len = 4, .splice_fd_in = a[0], .off = -1ULL, .splice_off_in = -1ULL };
    push(&s, 77);
    if (syscall(__NR_io_uring_enter, ring, 1, 0, 0, NULL, 0) != 1) RT_FAIL("submit splice: %s", strerror(errno));
    rt_ready("ringfd=%d writefd=%d sqhead=%u cqtail=%u\n", ring, a[1], sqhead + 1, cqtail);
    rt_wait_term();
    if (*cq_tail == cqtail + 1) rt_say("(completed while dumped) ");
    else if (write(a[1], "late", 4) != 4) RT_FAIL("write pipe");
    /* Two completions: the one left unreaped, then the splice's. */
    if (syscall(__NR_io_uring_enter, ring, 0, 2, IORING_ENTER_GETEVENTS, NULL, 0) < 0) RT_FAIL("getevents: %s", strerror(errno));
    if (reap(0xc0ffee) != 0) RT_FAIL("the unreaped completion");
    int r = reap(77);
    if (r != 4 || read(b[0], got, sizeof got) != 4 || memcmp(got, "late", 4)) RT_FAIL("the splice in flight: %d, '%.4s'", r, got);
    work(300, 5000);
    rt_pass();
  }
  rt_ready("ringfd=%d sqhead=%u cqtail=%u\n", ring, sqhead, cqtail);
  rt_wait_term();
  if (*sq_head != sqhead || *cq_tail != cqtail) RT_FAIL("ring indexes SQ head %u, CQ tail %u, want %u and %u", *sq_head, *cq_tail, sqhead, cqtail);
  if (reap(0xc0ffee) != 0) RT_FAIL("the unreaped completion");
  work(300, 5000);
  effect();
  rt_pass();
}
