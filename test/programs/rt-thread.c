/* rt-thread: the kernel's per-thread user pointers come back: glibc's rseq registration (the
 * area's cpu_id is updated by the kernel again after restore), the robust futex list head
 * (get_robust_list) and clear_child_tid (PR_GET_TID_ADDRESS), here set to an own word.
 * usage: rt-thread OUTFILE DIR
 * READY rseq=ADDR robust=ADDR ctid=ADDR */
#include "rt.h"
#include <sched.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/rseq.h>

/* The thread pointer __rseq_offset is relative to: GCC 12 has no __builtin_thread_pointer on ppc64,
 * where it is r13 (glibc's own __thread_pointer). */
static inline char *thread_pointer(void) {
#if defined(__powerpc64__)
  char *tp;
  __asm__("mr %0,13" : "=r"(tp));
  return tp;
#else
  return (char *)__builtin_thread_pointer();
#endif
}

static int ctid_word;
static void on_usr2(int s) { (void)s; }

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (__rseq_size == 0) RT_FAIL("glibc registered no rseq area");
  volatile struct rseq *rs = (struct rseq *)(thread_pointer() + __rseq_offset);
  struct robust_list_head *head0;
  size_t len0;
  syscall(SYS_get_robust_list, 0, &head0, &len0);
  syscall(SYS_set_tid_address, &ctid_word);
  rt_ready("rseq=%p robust=%p ctid=%p\n", (void *)rs, (void *)head0, (void *)&ctid_word);
  rt_wait_term();

  /* The kernel rewrites cpu_id after a signal delivery only while the area is registered. The
   * thread may move to another CPU between its read and getcpu's (it did once, on aarch64): a few
   * tries, each from -2 again (an area not registered keeps that every time). getcpu is the system
   * call: glibc's sched_getcpu reads the rseq area itself. */
  signal(SIGUSR2, on_usr2);
  int32_t got = -2;
  unsigned int now = 0;
  for (int i = 0; i < 5; i++) {
    rs->cpu_id = (uint32_t)-2;
    raise(SIGUSR2);
    got = (int32_t)rs->cpu_id;
    if (syscall(SYS_getcpu, &now, NULL, NULL) != 0) RT_FAIL("getcpu: %s", strerror(errno));
    if (got >= 0 && (unsigned int)got == now) break;
  }
  RT_CHECK(got >= 0 && (unsigned int)got == now, "the rseq area's cpu_id is %d after restore (the thread is on CPU %u): rseq is not registered there",
           got, now);
  struct robust_list_head *head;
  size_t len;
  syscall(SYS_get_robust_list, 0, &head, &len);
  RT_CHECK(head == head0 && len == len0, "robust list %p/%zu, want %p/%zu", (void *)head, len, (void *)head0, len0);
  int *ctid = NULL;
  prctl(PR_GET_TID_ADDRESS, &ctid);
  RT_CHECK(ctid == &ctid_word, "clear_child_tid %p, want %p", (void *)ctid, (void *)&ctid_word);
  rt_pass();
}
