/* rt-regs-s390x: every s390x register comes back exactly as it was.
 * usage: rt-regs-s390x OUTFILE DIR [spin|pause]
 * One asm block loads known values into all 32 vector registers (so the 16 FPRs, their leftmost
 * halves, too), the FPC, all 16 access registers and r0..r14, then either spins on a flag without
 * a syscall (spin: the dump stops it anywhere) or sits in pause() (pause: stopped inside the
 * syscall, ERESTARTNOHAND) until SIGTERM's handler sets the flag, and stores everything back.
 * r15 must come back as it went in; in pause mode r2 carries pause()'s -EINTR and pause() must
 * return exactly once. Access registers a0/a1 (the thread pointer) are put back before any libc.
 * GPR n = 0x4750520000000000 | n << 32 | 0xa1b2c300 | n; access register n = 0xac005a5a | n << 16;
 * vector word w of register n = 0x56000000 | n << 16 | w. On another architecture it says FAIL.
 * READY spin=0|1 */
#include "rt.h"
#include <stdint.h>

#if defined(__s390x__)
uint32_t rt_vin[32][4] __attribute__((aligned(16))), rt_vout[32][4] __attribute__((aligned(16)));
uint32_t rt_ain[16], rt_aout[16], rt_asave[2];
uint64_t rt_gout[17], rt_r1out, rt_wakeups, rt_sp_in, rt_r12save;
uint32_t rt_fpc_in = 1 /* round toward zero */, rt_fpc_out;
volatile uint32_t rt_regs_term;

#define GPR(n) (0x4750520000000000ull | (uint64_t)(n) << 32 | 0xa1b2c300u | (n))
/* The spin loop compares r2's low word with the flag: SIGTERM's handler writes exactly that. */
static void on_term(int s) { (void)s; rt_regs_term = (uint32_t)GPR(2); rt_term = 1; }

#define L(n) "llihf %%r" #n ",0x47505200+" #n "\n\t iilf %%r" #n ",0xa1b2c300+" #n "\n\t"
#define ENTER                                                                                      \
  "larl %%r1,rt_asave\n\t stam %%a0,%%a1,0(%%r1)\n\t"                                             \
  "larl %%r1,rt_vin\n\t vlm %%v0,%%v15,0(%%r1)\n\t vlm %%v16,%%v31,256(%%r1)\n\t"                 \
  "larl %%r1,rt_fpc_in\n\t lfpc 0(%%r1)\n\t"                                                      \
  "larl %%r1,rt_ain\n\t lam %%a0,%%a15,0(%%r1)\n\t"                                               \
  "stgrl %%r15,rt_sp_in\n\t stgrl %%r12,rt_r12save\n\t"                                                                   \
  L(0) L(1) L(2) L(3) L(4) L(5) L(6) L(7) L(8) L(9) L(10) L(11) L(12) L(13) L(14)
#define LEAVE                                                                                      \
  "stgrl %%r1,rt_r1out\n\t larl %%r1,rt_gout\n\t stmg %%r0,%%r15,0(%%r1)\n\t"                     \
  "larl %%r1,rt_aout\n\t stam %%a0,%%a15,0(%%r1)\n\t"                                             \
  "larl %%r1,rt_vout\n\t vstm %%v0,%%v15,0(%%r1)\n\t vstm %%v16,%%v31,256(%%r1)\n\t"              \
  "larl %%r1,rt_fpc_out\n\t stfpc 0(%%r1)\n\t"                                                    \
  "larl %%r1,rt_asave\n\t lam %%a0,%%a1,0(%%r1)\n\t lgrl %%r12,rt_r12save\n\t"
/* r12 (the PIC register, which gcc refuses as a clobber) is saved and put back by the block itself. */
#define CLOBBERS "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r13", "r14", \
  "memory", "cc", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", \
  "v15", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31"

/* Vector instructions need z13 (Debian builds for z196 by default). */
__attribute__((noinline, target("arch=z13"))) static void run_spin(void) {
  __asm__ volatile(ENTER "0: clrl %%r2,rt_regs_term\n\t jne 0b\n\t" LEAVE ::: CLOBBERS);
}

__attribute__((noinline, target("arch=z13"))) static void run_pause(void) {
  __asm__ volatile(ENTER
                   "0: svc 29\n\t"                         /* pause() */
                   "stgrl %%r2,rt_gout+128\n\t"              /* its result, kept past the loop */
                   "lgrl %%r2,rt_wakeups\n\t aghi %%r2,1\n\t stgrl %%r2,rt_wakeups\n\t"
                   "lrl %%r2,rt_regs_term\n\t ltr %%r2,%%r2\n\t je 0b\n\t"
                   "lgrl %%r2,rt_gout+128\n\t" LEAVE ::: CLOBBERS);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sigaction sa = { .sa_handler = on_term }; /* no SA_RESTART: pause() ends on SIGTERM */
  sigaction(SIGTERM, &sa, NULL);
  int spin = strcmp(rt_mode, "pause") != 0;
  for (int n = 0; n < 32; n++)
    for (int w = 0; w < 4; w++) rt_vin[n][w] = 0x56000000u | (uint32_t)n << 16 | (uint32_t)w;
  for (int n = 0; n < 16; n++) rt_ain[n] = 0xac005a5au | (uint32_t)n << 16;

  rt_ready("spin=%d\n", spin);
  if (spin) run_spin(); else run_pause();

  rt_gout[1] = rt_r1out;
  if (!spin) RT_CHECK(rt_wakeups == 1, "pause() returned %llu times, want once (for SIGTERM)", (unsigned long long)rt_wakeups);
  for (int n = 0; n < 15; n++) {
    if (n == 2 && !spin) {
      RT_CHECK((int64_t)rt_gout[2] == -EINTR, "r2 = %#llx after pause(), want -EINTR", (unsigned long long)rt_gout[2]);
      continue;
    }
    RT_CHECK(rt_gout[n] == GPR(n), "r%d = %#llx, want %#llx", n, (unsigned long long)rt_gout[n], (unsigned long long)GPR(n));
  }
  RT_CHECK(rt_gout[15] == rt_sp_in, "r15 = %#llx, want %#llx", (unsigned long long)rt_gout[15], (unsigned long long)rt_sp_in);
  for (int n = 0; n < 16; n++)
    RT_CHECK(rt_aout[n] == rt_ain[n], "a%d = %#x, want %#x", n, rt_aout[n], rt_ain[n]);
  for (int n = 0; n < 32; n++)
    for (int w = 0; w < 4; w++)
      RT_CHECK(rt_vout[n][w] == rt_vin[n][w], "v%d word %d = %#x, want %#x (%s)", n, w, rt_vout[n][w], rt_vin[n][w],
               n < 16 && w < 2 ? "the FPR" : "a vector half");
  RT_CHECK(rt_fpc_out == rt_fpc_in, "FPC = %#x, want %#x", rt_fpc_out, rt_fpc_in);
  rt_pass();
}
#else
int main(int argc, char **argv) {
  rt_start(argc, argv);
  RT_FAIL("rt-regs-s390x runs on s390x only");
}
#endif
