/* rt-iouring-raw: an io_uring ring driven by raw system calls (no liburing, so that it builds with
 * the cross compilers for the qemu guests too).
 * usage: rt-iouring-raw OUTFILE DIR [ROUNDS]
 * ROUNDS (default 1500) NOPs and as many file writes go through an 8-entry ring before READY; after SIGTERM the
 * ring's indexes must be where they were, and more writes and NOPs must complete on it. */
#include "rt.h"
#include <linux/io_uring.h>
#include <stdint.h>
#include <sys/mman.h>

static int ring, file;
static unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
static struct io_uring_sqe *sqes;
static struct io_uring_cqe *cqes;

/* One request, submitted and waited for; returns its result. */
static int run1(struct io_uring_sqe *tmpl, uint64_t data) {
  unsigned t = *sq_tail, i = t & *sq_mask;
  sqes[i] = *tmpl;
  sqes[i].user_data = data;
  sq_array[i] = i;
  __atomic_store_n(sq_tail, t + 1, __ATOMIC_RELEASE);
  long n = syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);
  if (n != 1) RT_FAIL("io_uring_enter: %ld (%s)", n, strerror(errno));
  unsigned h = *cq_head;
  if (h == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) RT_FAIL("no completion for request %llu", (unsigned long long)data);
  struct io_uring_cqe *c = &cqes[h & *cq_mask];
  if (c->user_data != data) RT_FAIL("completion user_data %llu, want %llu", (unsigned long long)c->user_data, (unsigned long long)data);
  int res = c->res;
  __atomic_store_n(cq_head, h + 1, __ATOMIC_RELEASE);
  return res;
}

static void work(int rounds) {
  static char buf[256];
  for (int i = 0; i < rounds; i++) {
    struct io_uring_sqe s = { .opcode = IORING_OP_NOP };
    if (run1(&s, 1000 + i) != 0) RT_FAIL("nop %d failed", i);
    snprintf(buf, sizeof buf, "write %d", i);
    s = (struct io_uring_sqe){ .opcode = IORING_OP_WRITE, .fd = file, .addr = (uintptr_t)buf, .len = sizeof buf, .off = (i % 16) * sizeof buf };
    if (run1(&s, 5000 + i) != (int)sizeof buf) RT_FAIL("write %d failed", i);
  }
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  char path[4096];
  snprintf(path, sizeof path, "%s/iouring-raw-data", argv[2]);
  file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file < 0) RT_FAIL("open: %s", strerror(errno));
  struct io_uring_params p = { 0 };
  ring = syscall(__NR_io_uring_setup, 8, &p);
  if (ring < 0) RT_FAIL("io_uring_setup: %s", strerror(errno));
  size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned), cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  char *sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
  char *cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_CQ_RING);
  sqes = mmap(NULL, p.sq_entries * sizeof *sqes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
  if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  sq_head = (unsigned *)(sq + p.sq_off.head); sq_tail = (unsigned *)(sq + p.sq_off.tail);
  sq_mask = (unsigned *)(sq + p.sq_off.ring_mask); sq_array = (unsigned *)(sq + p.sq_off.array);
  cq_head = (unsigned *)(cq + p.cq_off.head); cq_tail = (unsigned *)(cq + p.cq_off.tail);
  cq_mask = (unsigned *)(cq + p.cq_off.ring_mask); cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);

  work(rt_mode[0] ? atoi(rt_mode) : 1500);
  unsigned sqhead = *sq_head, cqtail = *cq_tail;
  rt_ready("ringfd=%d sqhead=%u cqtail=%u\n", ring, sqhead, cqtail);
  rt_wait_term();
  if (*sq_head != sqhead || *cq_tail != cqtail) RT_FAIL("ring indexes SQ head %u, CQ tail %u, want %u and %u", *sq_head, *cq_tail, sqhead, cqtail);
  /* Another file: the dumped one stays as it was, for the next restore of the same images. */
  snprintf(path, sizeof path, "%s/iouring-raw-data2", argv[2]);
  file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (file < 0) RT_FAIL("open: %s", strerror(errno));
  work(300);
  if (*sq_head != sqhead + 600 || *cq_tail != cqtail + 600) RT_FAIL("after 600 more requests: SQ head %u, CQ tail %u", *sq_head, *cq_tail);
  rt_pass();
}
