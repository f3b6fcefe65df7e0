/* rt-regs: registers come back exactly as they were.
 * usage: rt-regs OUTFILE DIR
 * One asm block loads known values into rbx, rbp, rdi, rsi, rdx, r8-r10, r12-r15, every vector
 * register (zmm0-31 and k0-7 when the CPU has AVX-512, else ymm0-15), two x87 registers, the
 * x87 control word and MXCSR, then sits in pause() (the dump stops it inside: ERESTARTNOHAND)
 * until SIGTERM's handler sets a flag, and stores everything back. pause() must return exactly
 * once (for SIGTERM). Also checks the TLS variable through %fs and a %gs base set with
 * arch_prctl. Vector word w of register n = 0xA5000000 | n << 16 | w; k<n> = 0x0101..01 * (n+1).
 * READY avx512=0|1 gs=ADDR */
#include "rt.h"
#include <asm/prctl.h>
#include "x86-regs.h"

static __thread uint64_t tls_value = 0x7157715771577157ull;
static uint64_t gs_area[2] = { 0x6565656565656565ull, 0 };

static void on_term(int s) { (void)s; regs_term = 1; rt_term = 1; }

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART: pause() ends on SIGTERM */
  sigaction(SIGTERM, &sa, NULL);
  int avx512 = regs_has_avx512();
  syscall(SYS_arch_prctl, ARCH_SET_GS, gs_area);
  unsigned long fs0 = 0;
  syscall(SYS_arch_prctl, ARCH_GET_FS, &fs0);
  uint64_t *tls_addr = &tls_value;

  rt_ready("avx512=%d gs=%p fs=%#lx\n", avx512, (void *)gs_area, fs0);
  regs_hold(avx512);

  RT_CHECK(regs_wakeups == 1, "pause() returned %llu times, want once (for SIGTERM)", (unsigned long long)regs_wakeups);
  char why[160];
  if (regs_mismatch(why, sizeof why, avx512)) RT_FAIL("%s", why);

  unsigned long fs1 = 0, gs1 = 0;
  syscall(SYS_arch_prctl, ARCH_GET_FS, &fs1);
  syscall(SYS_arch_prctl, ARCH_GET_GS, &gs1);
  RT_CHECK(fs1 == fs0, "fs base %#lx, want %#lx", fs1, fs0);
  RT_CHECK(&tls_value == tls_addr && tls_value == 0x7157715771577157ull, "the TLS variable through %%fs");
  RT_CHECK(gs1 == (unsigned long)gs_area, "gs base %#lx, want %p", gs1, (void *)gs_area);
  uint64_t via_gs;
  __asm__ volatile("mov %%gs:0, %0" : "=r"(via_gs));
  RT_CHECK(via_gs == gs_area[0], "%%gs:0 reads %#llx", (unsigned long long)via_gs);
  rt_pass();
}
