/* rt-aarch64-bti: pages guarded by branch target identification (BTI) stay guarded.
 * usage: rt-aarch64-bti OUTFILE DIR
 * Maps two executable pages with PROT_BTI (the kernel shows them only as the smaps VmFlag "bt"): in the
 * first a function without a landing pad (mov x0, #42; ret), in the second the same after `bti c`. An
 * indirect call (blr) into a guarded page must land on a bti: into the first it faults with SIGILL at the
 * function's first instruction, into the second it returns 42. Checked before READY (the setup works) and
 * after SIGTERM.
 * READY bare=0x... padded=0x... */
#include "../rt.h"
#include <setjmp.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#ifndef HWCAP2_BTI
#define HWCAP2_BTI (1UL << 17)
#endif
#ifndef PROT_BTI
#define PROT_BTI 0x10
#endif
#define PAGE 4096
#define MOV_X0_42 0xd2800540u
#define RET 0xd65f03c0u
#define BTI_C 0xd503245fu

static sigjmp_buf jump;
static void *volatile fault_pc;
static void on_ill(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)uc;
  fault_pc = si->si_addr;
  siglongjmp(jump, 1);
}

static void *guarded(const uint32_t *code, int n) {
  uint32_t *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) RT_FAIL("mmap: %s", strerror(errno));
  memcpy(p, code, n * sizeof *code);
  __builtin___clear_cache((char *)p, (char *)(p + n));
  if (mprotect(p, PAGE, PROT_READ | PROT_EXEC | PROT_BTI) != 0) RT_FAIL("mprotect PROT_BTI: %s", strerror(errno));
  return p;
}

/* Empty when both calls behave as in a guarded page; else what went wrong. */
static const char *calls(void *bare, void *padded) {
  static char why[128];
  long (*volatile f)(void) = (long (*)(void))padded;
  if (sigsetjmp(jump, 1) != 0) {
    snprintf(why, sizeof why, "a call to `bti c` in a guarded page faulted at %p", fault_pc);
    return why;
  }
  long v = f();
  if (v != 42) { snprintf(why, sizeof why, "the padded function returned %ld, want 42", v); return why; }
  fault_pc = NULL;
  f = (long (*)(void))bare;
  if (sigsetjmp(jump, 1) == 0) {
    (void)f();
    return "a call without a landing pad into a guarded page did not fault (the page is not guarded)";
  }
  if (fault_pc != bare) { snprintf(why, sizeof why, "the call into the guarded page faulted at %p, not at %p", fault_pc, bare); return why; }
  return "";
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (!(getauxval(AT_HWCAP2) & HWCAP2_BTI)) RT_FAIL("this CPU has no BTI (AT_HWCAP2 %#lx)", getauxval(AT_HWCAP2));
  struct sigaction sa = { .sa_sigaction = on_ill, .sa_flags = SA_SIGINFO | SA_NODEFER };
  sigaction(SIGILL, &sa, NULL);
  const uint32_t bare_code[] = { MOV_X0_42, RET }, padded_code[] = { BTI_C, MOV_X0_42, RET };
  void *bare = guarded(bare_code, 2), *padded = guarded(padded_code, 3);
  const char *why = calls(bare, padded);
  if (*why) RT_FAIL("before the dump: %s", why);
  rt_ready("bare=%p padded=%p\n", bare, padded);
  rt_wait_term();
  why = calls(bare, padded);
  RT_CHECK(!*why, "%s", why);
  rt_pass();
}
