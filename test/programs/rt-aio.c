/* rt-aio: libaio contexts (io_setup) survive a round trip, with their ring's state.
 * usage: rt-aio OUTFILE DIR
 *   w  a ring that went round: NR-2 writes submitted and reaped one by one, then 5 tagged writes
 *      (aio_data 0x5a00+i) left unreaped, so its tail has wrapped below its head
 *   e  a ring never used (head = tail = 0)
 * READY tells both rings' addresses (the context ids) and w's slot count, head and tail.
 * On SIGTERM: both ids still work, w's header (nr, head, tail) is as before, io_getevents hands
 * back exactly the 5 tagged events in order (res 1), a new write completes into the next slot
 * (tail + 1), e takes a write too, and both are destroyed. */
#include "rt.h"
#include <linux/aio_abi.h>

struct ring { unsigned id, nr, head, tail, magic, compat, incompat, header_length; struct io_event ev[]; };

static long io_setup(unsigned n, aio_context_t *c) { return syscall(SYS_io_setup, n, c); }
static long io_submit(aio_context_t c, long n, struct iocb **p) { return syscall(SYS_io_submit, c, n, p); }
static long io_getevents(aio_context_t c, long min, long max, struct io_event *e) { return syscall(SYS_io_getevents, c, min, max, e, NULL); }

static int null_fd;
static char byte = 'x';

static void submit(aio_context_t c, unsigned long long tag) {
  struct iocb cb = { .aio_data = tag, .aio_lio_opcode = IOCB_CMD_PWRITE, .aio_fildes = null_fd, .aio_buf = (unsigned long)&byte, .aio_nbytes = 1 };
  struct iocb *p = &cb;
  if (io_submit(c, 1, &p) != 1) RT_FAIL("io_submit: %s", strerror(errno));
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  null_fd = open("/dev/null", O_WRONLY);
  aio_context_t w = 0, e = 0;
  if (null_fd < 0 || io_setup(1, &w) < 0 || io_setup(64, &e) < 0) RT_FAIL("setup: %s", strerror(errno));
  volatile struct ring *rw = (struct ring *)w;
  unsigned nr = rw->nr;
  struct io_event ev[8];
  for (unsigned i = 0; i < nr - 2; i++) {
    submit(w, 1);
    if (io_getevents(w, 1, 1, ev) != 1) RT_FAIL("io_getevents: %s", strerror(errno));
  }
  for (int i = 0; i < 5; i++) submit(w, 0x5a00 + i);
  unsigned head = rw->head, tail = rw->tail;
  if (tail >= head) RT_FAIL("the ring did not wrap: head %u tail %u", head, tail);
  rt_ready("w=0x%llx e=0x%llx nr=%u head=%u tail=%u\n", (unsigned long long)w, (unsigned long long)e, nr, head, tail);
  rt_wait_term();

  if (rw->nr != nr || rw->head != head || rw->tail != tail) RT_FAIL("ring w: nr %u head %u tail %u, was %u %u %u", rw->nr, rw->head, rw->tail, nr, head, tail);
  long n = io_getevents(w, 0, 8, ev);
  if (n != 5) RT_FAIL("ring w: %ld events waiting, want 5 (%s)", n, n < 0 ? strerror(errno) : "");
  for (int i = 0; i < 5; i++) {
    if (ev[i].data != 0x5a00u + i || ev[i].res != 1) RT_FAIL("ring w: event %d has data 0x%llx res %lld, want 0x%x res 1", i, (unsigned long long)ev[i].data, (long long)ev[i].res, 0x5a00 + i);
  }
  unsigned t0 = rw->tail;
  submit(w, 0x77);
  if (rw->tail != (t0 + 1) % nr) RT_FAIL("ring w: tail %u after a write, want %u", rw->tail, (t0 + 1) % nr);
  if (io_getevents(w, 1, 1, ev) != 1 || ev[0].data != 0x77) RT_FAIL("ring w: the new write's event is missing");
  if (io_getevents(e, 0, 1, ev) != 0) RT_FAIL("ring e: not empty or gone (%s)", strerror(errno));
  submit(e, 0x88);
  if (io_getevents(e, 1, 1, ev) != 1 || ev[0].data != 0x88) RT_FAIL("ring e: the new write's event is missing");
  if (syscall(SYS_io_destroy, w) != 0 || syscall(SYS_io_destroy, e) != 0) RT_FAIL("io_destroy: %s", strerror(errno));
  rt_pass();
}
