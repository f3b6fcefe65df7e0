/* rt-ppc64-regs: every ppc64 register comes back, and the kernel knows the vector state is in use.
 * usage: rt-ppc64-regs OUTFILE DIR spin|syscall
 * One asm block loads known values into all 64 VSRs (= the 32 FPRs as doubleword 0 of vsr0-31, the
 * VSX doublewords 1, the 32 VRs as vsr32-63), VRSAVE and the GPRs, then waits for SIGTERM's flag:
 * "spin" in a loop of loads (r0 and cr0 only; r3-r12 and r15-r31 checked), "syscall" in pause()
 * (sc; r15-r31 checked, the volatile r3-r12 are the syscall's). r14 holds the block's address.
 * Then everything is stored back and compared. The SIGTERM handler (SA_SIGINFO) copies its signal
 * frame's vector area: after a restore the kernel must still put the VRs and VSX doublewords there
 * (MSR_VEC/MSR_VSX in the frame's MSR; seed 002), so the handler's copy is checked too.
 * GPR n = 0x5a00000000000000 | n << 40 | 0x1234567; VSR n doubleword d = 0xc0de000000000000 | n << 32 | d.
 * READY mode=... */
#include "../rt.h"
#include <stdint.h>
#include <ucontext.h>

#define MSR_VSX (1UL << 23)
#define MSR_VEC (1UL << 25)

/* Everything the asm touches, at fixed offsets from r14 (the asm finds it TOC-relative: every
 * register but r1, r2 and r13 is in use, none is left for an operand). */
struct block {
  uint64_t term;       /* 0: set by the SIGTERM handler */
  uint64_t wakeups;    /* 8: pause() returns */
  uint64_t spin;       /* 16 */
  uint64_t vrsave_in, vrsave_out, pad; /* 24, 32 */
  uint64_t gin[32];    /* 48 */
  uint64_t gout[32];   /* 304 */
  uint64_t vin[64][2]; /* 560 */
  uint64_t vout[64][2]; /* 1584 */
  uint64_t vrx[32][2]; /* 2608: the VRs as stvx stores them, the layout of the kernel's vector128 */
} __attribute__((aligned(16)));

static struct block b;
_Static_assert(__builtin_offsetof(struct block, gin) == 48 && __builtin_offsetof(struct block, gout) == 304 &&
  __builtin_offsetof(struct block, vin) == 560 && __builtin_offsetof(struct block, vout) == 1584, "block layout");
#define vin b.vin
#define vout b.vout
/* What the SIGTERM handler found in its frame. */
static uint64_t frame_msr;
static int frame_has_vregs;
static uint64_t frame_vr[32][2], frame_vsx[32];

static void on_term(int s, siginfo_t *si, void *ucv) {
  (void)s; (void)si;
  ucontext_t *uc = ucv;
  frame_msr = uc->uc_mcontext.gp_regs[PT_MSR];
  const uint64_t *v = (const uint64_t *)uc->uc_mcontext.v_regs;
  frame_has_vregs = v != NULL;
  if (v) {
    memcpy(frame_vr, v, sizeof frame_vr);
    memcpy(frame_vsx, v + 34 * 2, sizeof frame_vsx); /* after the 34 quadwords of VMX */
  }
  b.term = 1;
  rt_term = 1;
}

#define LV(n) "lxvd2x " #n ",0,9\n\t addi 9,9,16\n\t"
#define SV(n) "stxvd2x " #n ",0,9\n\t addi 9,9,16\n\t"
#define SVR(n) "stvx " #n ",0,9\n\t addi 9,9,16\n\t"
#define VR32(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15) M(16) M(17) \
  M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define V8(M, a) M(a##0) M(a##1) M(a##2) M(a##3) M(a##4) M(a##5) M(a##6) M(a##7)
#define VALL(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) \
  M(10) M(11) M(12) M(13) M(14) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) \
  M(30) M(31) M(32) M(33) M(34) M(35) M(36) M(37) M(38) M(39) M(40) M(41) M(42) M(43) M(44) M(45) M(46) M(47) M(48) M(49) \
  M(50) M(51) M(52) M(53) M(54) M(55) M(56) M(57) M(58) M(59) M(60) M(61) M(62) M(63)
#define LG(n) "ld " #n ",48+8*" #n "(14)\n\t"
#define SG(n) "std " #n ",304+8*" #n "(14)\n\t"
#define GVOL(M) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12)
#define GNV(M) M(15) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define CLOBBERS "r0", "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "r14", "r15", "r16", "r17", \
  "r18", "r19", "r20", "r21", "r22", "r23", "r24", "r25", "r26", "r27", "r28", "r29", "r30", "r31", "cr0", "ctr", "lr", "xer", \
  "memory", "vs0", "vs1", "vs2", "vs3", "vs4", "vs5", "vs6", "vs7", "vs8", "vs9", "vs10", "vs11", "vs12", "vs13", "vs14", \
  "vs15", "vs16", "vs17", "vs18", "vs19", "vs20", "vs21", "vs22", "vs23", "vs24", "vs25", "vs26", "vs27", "vs28", "vs29", \
  "vs30", "vs31", "vs32", "vs33", "vs34", "vs35", "vs36", "vs37", "vs38", "vs39", "vs40", "vs41", "vs42", "vs43", "vs44", \
  "vs45", "vs46", "vs47", "vs48", "vs49", "vs50", "vs51", "vs52", "vs53", "vs54", "vs55", "vs56", "vs57", "vs58", "vs59", \
  "vs60", "vs61", "vs62", "vs63"

__attribute__((noinline)) static void run(void) {
  __asm__ volatile(
    "addis 14,2,b@toc@ha\n\t addi 14,14,b@toc@l\n\t addi 9,14,560\n\t" VALL(LV)
    "ld 0,24(14)\n\t mtvrsave 0\n\t"
    "ld 0,16(14)\n\t cmpdi 0,0\n\t"
    GVOL(LG) GNV(LG)
    "beq 2f\n\t"
    "1: ld 0,0(14)\n\t cmpdi 0,0\n\t beq 1b\n\t b 3f\n\t"
    "2: li 0,29\n\t sc\n\t ld 0,8(14)\n\t addi 0,0,1\n\t std 0,8(14)\n\t ld 0,0(14)\n\t cmpdi 0,0\n\t beq 2b\n\t"
    "3:\n\t" GVOL(SG) GNV(SG)
    "mfvrsave 0\n\t std 0,32(14)\n\t"
    "addi 9,14,1584\n\t" VALL(SV)
    "addi 9,14,2608\n\t" VR32(SVR)
    ::: CLOBBERS);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  int spin = strcmp(rt_mode, "spin") == 0;
  struct sigaction sa = { .sa_sigaction = on_term, .sa_flags = SA_SIGINFO };
  sigaction(SIGTERM, &sa, NULL);
  for (int n = 0; n < 32; n++) b.gin[n] = 0x5a00000000000000ull | (uint64_t)n << 40 | 0x1234567;
  for (int n = 0; n < 64; n++) for (int d = 0; d < 2; d++) vin[n][d] = 0xc0de000000000000ull | (uint64_t)n << 32 | d;
  b.vrsave_in = 0xfeedf00d;
  b.spin = spin;
  rt_ready("mode=%s\n", spin ? "spin" : "syscall");
  run();

  for (int n = spin ? 3 : 15; n < 32; n++) {
    if (n == 13 || n == 14) continue;
    RT_CHECK(b.gout[n] == b.gin[n], "r%d = 0x%llx, want 0x%llx", n, (unsigned long long)b.gout[n], (unsigned long long)b.gin[n]);
  }
  for (int n = 0; n < 64; n++) for (int d = 0; d < 2; d++)
    RT_CHECK(vout[n][d] == vin[n][d], "vsr%d doubleword %d = 0x%llx, want 0x%llx", n, d, (unsigned long long)vout[n][d], (unsigned long long)vin[n][d]);
  RT_CHECK((uint32_t)b.vrsave_out == 0xfeedf00d, "vrsave = 0x%llx, want 0xfeedf00d", (unsigned long long)b.vrsave_out);
  if (!spin) RT_CHECK(b.wakeups == 1, "pause() returned %llu times, want once", (unsigned long long)b.wakeups);
  /* The SIGTERM frame: the kernel saved the vector state because it knew it was in use. */
  RT_CHECK(frame_has_vregs, "the signal frame has no v_regs");
  RT_CHECK(frame_msr & MSR_VEC, "the signal frame's MSR 0x%llx lacks MSR_VEC: the kernel did not keep the VRs", (unsigned long long)frame_msr);
  RT_CHECK(frame_msr & MSR_VSX, "the signal frame's MSR 0x%llx lacks MSR_VSX: the kernel did not keep the VSX registers", (unsigned long long)frame_msr);
  for (int n = 0; n < 32; n++) {
    const uint64_t *x = b.vrx[n], *w = vin[32 + n]; /* the same two doublewords, in the byte order's places */
    RT_CHECK((x[0] == w[0] && x[1] == w[1]) || (x[0] == w[1] && x[1] == w[0]), "vr%d as stvx stores it is not vsr%d", n, 32 + n);
  }
  for (int n = 0; n < 32; n++)
    RT_CHECK(!memcmp(frame_vr[n], b.vrx[n], 16), "the signal frame's vr%d differs from the register", n);
  for (int n = 0; n < 32; n++) {
    /* lxvd2x loaded vin[n][1] into doubleword 1 of vsr n (element order, either byte order). */
    RT_CHECK(frame_vsx[n] == vin[n][1], "the signal frame's VSX doubleword of vsr%d = 0x%llx, want 0x%llx", n, (unsigned long long)frame_vsx[n], (unsigned long long)vin[n][1]);
  }
  rt_pass();
}
