/* rt-regs-aarch64: every aarch64 X and V register, FPCR, FPSR and TPIDR_EL0 come back exactly.
 * usage: rt-regs-aarch64 OUTFILE DIR [spin|syscall]
 * One asm block loads x4..x7, x9..x29 from rt_gin (x30 then holds rt_gin's address), v0..v31
 * (word w of vN = 0xA5000000 | n << 16 | w), FPCR (round toward zero) and FPSR, then either
 * spins until SIGTERM's handler sets a flag (spin) or sits in ppoll(NULL, 0, NULL, NULL) and
 * loops on EINTR until it does (syscall; the dump stops it inside: ERESTARTNOHAND), and stores
 * everything back. ppoll must return exactly once (for SIGTERM).
 * READY tpidr=ADDR */
#include "rt.h"
#include <stdint.h>

#if defined(__aarch64__)
uint64_t rt_gin[31], rt_gout[31];
uint32_t rt_vin[32][4] __attribute__((aligned(16)));
uint32_t rt_vout[32][4] __attribute__((aligned(16)));
uint64_t rt_fpcr_in = 0xc00000, rt_fpsr_in = 0x0800009f, rt_fpcr_out, rt_fpsr_out;
uint64_t rt_wakeups;
volatile int rt_regs_term;
static __thread uint64_t tls_value = 0x7157715771577157ull;

static void on_term(int s) { (void)s; rt_regs_term = 1; rt_term = 1; }

#define LOAD                                                                                   \
  "stp x29, x30, [sp, #-16]!\n\t"                                                              \
  "adrp x0, rt_vin\n\t add x0, x0, :lo12:rt_vin\n\t"                                           \
  "ld1 {v0.4s-v3.4s}, [x0], #64\n\t ld1 {v4.4s-v7.4s}, [x0], #64\n\t"                          \
  "ld1 {v8.4s-v11.4s}, [x0], #64\n\t ld1 {v12.4s-v15.4s}, [x0], #64\n\t"                       \
  "ld1 {v16.4s-v19.4s}, [x0], #64\n\t ld1 {v20.4s-v23.4s}, [x0], #64\n\t"                      \
  "ld1 {v24.4s-v27.4s}, [x0], #64\n\t ld1 {v28.4s-v31.4s}, [x0], #64\n\t"                      \
  "adrp x0, rt_fpcr_in\n\t ldr x0, [x0, :lo12:rt_fpcr_in]\n\t msr fpcr, x0\n\t"                \
  "adrp x0, rt_fpsr_in\n\t ldr x0, [x0, :lo12:rt_fpsr_in]\n\t msr fpsr, x0\n\t"                \
  "adrp x30, rt_gin\n\t add x30, x30, :lo12:rt_gin\n\t"                                        \
  "ldp x4, x5, [x30, #32]\n\t ldp x6, x7, [x30, #48]\n\t ldr x9, [x30, #72]\n\t"               \
  "ldp x10, x11, [x30, #80]\n\t ldp x12, x13, [x30, #96]\n\t ldp x14, x15, [x30, #112]\n\t"    \
  "ldp x16, x17, [x30, #128]\n\t ldp x18, x19, [x30, #144]\n\t ldp x20, x21, [x30, #160]\n\t"  \
  "ldp x22, x23, [x30, #176]\n\t ldp x24, x25, [x30, #192]\n\t ldp x26, x27, [x30, #208]\n\t"  \
  "ldp x28, x29, [x30, #224]\n\t"
#define STORE                                                                                  \
  "adrp x0, rt_gout\n\t add x0, x0, :lo12:rt_gout\n\t"                                         \
  "stp x4, x5, [x0, #32]\n\t stp x6, x7, [x0, #48]\n\t str x9, [x0, #72]\n\t"                  \
  "stp x10, x11, [x0, #80]\n\t stp x12, x13, [x0, #96]\n\t stp x14, x15, [x0, #112]\n\t"       \
  "stp x16, x17, [x0, #128]\n\t stp x18, x19, [x0, #144]\n\t stp x20, x21, [x0, #160]\n\t"     \
  "stp x22, x23, [x0, #176]\n\t stp x24, x25, [x0, #192]\n\t stp x26, x27, [x0, #208]\n\t"     \
  "stp x28, x29, [x0, #224]\n\t str x30, [x0, #240]\n\t"                                       \
  "adrp x0, rt_vout\n\t add x0, x0, :lo12:rt_vout\n\t"                                         \
  "st1 {v0.4s-v3.4s}, [x0], #64\n\t st1 {v4.4s-v7.4s}, [x0], #64\n\t"                          \
  "st1 {v8.4s-v11.4s}, [x0], #64\n\t st1 {v12.4s-v15.4s}, [x0], #64\n\t"                       \
  "st1 {v16.4s-v19.4s}, [x0], #64\n\t st1 {v20.4s-v23.4s}, [x0], #64\n\t"                      \
  "st1 {v24.4s-v27.4s}, [x0], #64\n\t st1 {v28.4s-v31.4s}, [x0], #64\n\t"                      \
  "mrs x1, fpcr\n\t adrp x0, rt_fpcr_out\n\t str x1, [x0, :lo12:rt_fpcr_out]\n\t"              \
  "mrs x1, fpsr\n\t adrp x0, rt_fpsr_out\n\t str x1, [x0, :lo12:rt_fpsr_out]\n\t"              \
  "mov x1, #0\n\t msr fpsr, x1\n\t msr fpcr, x1\n\t"                                           \
  "ldp x29, x30, [sp], #16\n\t"
#define CLOBBERS "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14", \
  "x15", "x16", "x17", "x18", "x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28", "memory", "cc", \
  "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15", "v16", \
  "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31"

__attribute__((noinline)) static void run_syscall(void) {
  __asm__ volatile(LOAD
                   "1: mov x0, #0\n\t mov x1, #0\n\t mov x2, #0\n\t mov x3, #0\n\t mov x8, #73\n\t svc #0\n\t"
                   "adrp x0, rt_wakeups\n\t ldr x1, [x0, :lo12:rt_wakeups]\n\t add x1, x1, #1\n\t"
                   "str x1, [x0, :lo12:rt_wakeups]\n\t"
                   "adrp x0, rt_regs_term\n\t ldr w1, [x0, :lo12:rt_regs_term]\n\t cbz w1, 1b\n\t"
                   STORE ::: CLOBBERS);
}

__attribute__((noinline)) static void run_spin(void) {
  __asm__ volatile(LOAD
                   "1: adrp x0, rt_regs_term\n\t ldr w1, [x0, :lo12:rt_regs_term]\n\t cbz w1, 1b\n\t"
                   STORE ::: CLOBBERS);
}

static uint64_t tpidr(void) {
  uint64_t v;
  __asm__ volatile("mrs %0, tpidr_el0" : "=r"(v));
  return v;
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART: ppoll() ends on SIGTERM */
  sigaction(SIGTERM, &sa, NULL);
  int spin = strcmp(rt_mode, "spin") == 0;
  for (int n = 0; n < 31; n++) rt_gin[n] = 0x0101010101010101ull * (uint64_t)n ^ 0xa0a0000000000000ull;
  for (int n = 0; n < 32; n++)
    for (int w = 0; w < 4; w++) rt_vin[n][w] = 0xA5000000u | (uint32_t)n << 16 | (uint32_t)w;
  uint64_t tp0 = tpidr();
  rt_ready("tpidr=%#llx\n", (unsigned long long)tp0);
  if (spin) run_spin(); else run_syscall();

  if (!spin) RT_CHECK(rt_wakeups == 1, "ppoll() returned %llu times, want once (for SIGTERM)", (unsigned long long)rt_wakeups);
  for (int n = 4; n <= 29; n++)
    if (n != 8)
      RT_CHECK(rt_gout[n] == rt_gin[n], "x%d = %#llx, want %#llx", n, (unsigned long long)rt_gout[n], (unsigned long long)rt_gin[n]);
  RT_CHECK(rt_gout[30] == (uint64_t)rt_gin, "x30 = %#llx, want %p", (unsigned long long)rt_gout[30], (void *)rt_gin);
  for (int n = 0; n < 32; n++)
    for (int w = 0; w < 4; w++)
      RT_CHECK(rt_vout[n][w] == rt_vin[n][w], "v%d word %d = %#x, want %#x", n, w, rt_vout[n][w], rt_vin[n][w]);
  RT_CHECK(rt_fpcr_out == rt_fpcr_in, "fpcr %#llx, want %#llx", (unsigned long long)rt_fpcr_out, (unsigned long long)rt_fpcr_in);
  RT_CHECK(rt_fpsr_out == rt_fpsr_in, "fpsr %#llx, want %#llx", (unsigned long long)rt_fpsr_out, (unsigned long long)rt_fpsr_in);
  RT_CHECK(tpidr() == tp0, "tpidr_el0 %#llx, want %#llx", (unsigned long long)tpidr(), (unsigned long long)tp0);
  RT_CHECK(tls_value == 0x7157715771577157ull, "the TLS variable through tpidr_el0");
  rt_pass();
}
#else
int main(void) { (void)rt_start; return 2; } /* aarch64 only (test/e2e/rt-regs-aarch64.test.ts runs it only there) */
#endif
