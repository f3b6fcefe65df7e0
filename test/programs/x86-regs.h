/* x86-regs.h: hold known values in every register a task has while it waits in pause(), then check
 * them. x86_64 only (the includer guards it). regs_hold() loads rbx, rbp, rdi, rsi, rdx, r8-r10,
 * r12-r15, every vector register (zmm0-31 and k0-7 with AVX-512, else ymm0-15), two x87 registers,
 * the x87 control word and MXCSR, then loops in pause() (syscall 34: rax, rcx and r11 are the
 * syscall's own) until regs_term is set, counting the returns in regs_wakeups, and stores
 * everything back. regs_mismatch() names the first register that differs from what was loaded.
 * Vector word w of register n = 0xA5000000 | n << 16 | w; k<n> = 0x0101..01 * (n+1). */
#ifndef X86_REGS_H
#define X86_REGS_H
#include <cpuid.h>
#include <stdint.h>
#include <stdio.h>

uint32_t rt_vin[32][16] __attribute__((aligned(64)));
uint32_t rt_vout[32][16] __attribute__((aligned(64)));
uint64_t rt_kin[8], rt_kout[8];
uint64_t rt_gout[12];
uint64_t regs_wakeups;
uint16_t rt_fcw_in = 0x0c7f, rt_fcw_out; /* round toward zero, all exceptions masked */
uint32_t rt_mxcsr_in = 0x7f80, rt_mxcsr_out; /* round toward zero */
long double rt_st_out[2];
volatile int regs_term;

static const uint64_t GP_WANT[12] = {
  0x0b0b0b0b0b0b0b0bull, 0x0d0d0d0d0d0d0d0dull, 0x0707070707070707ull, 0x0606060606060606ull, 0x0303030303030303ull,
  0x0808080808080808ull, 0x0909090909090909ull, 0x1010101010101010ull,
  0x1212121212121212ull, 0x1313131313131313ull, 0x1414141414141414ull, 0x1515151515151515ull,
};
static const char *GP_NAME[12] = { "rbx", "rbp", "rdi", "rsi", "rdx", "r8", "r9", "r10", "r12", "r13", "r14", "r15" };

static int regs_has_avx512(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  if (!(b & (1u << 16)) || !(b & (1u << 30))) return 0;
  __get_cpuid(1, &a, &b, &c, &d);
  if (!(c & (1u << 27))) return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xe6) == 0xe6;
}

#define REGS_ENTER                                                                             \
  "push %%rbp\n\t"                                                                             \
  "fldcw rt_fcw_in(%%rip)\n\t ldmxcsr rt_mxcsr_in(%%rip)\n\t fldpi\n\t fldl2t\n\t"              \
  "movabs $0x0b0b0b0b0b0b0b0b, %%rbx\n\t movabs $0x0d0d0d0d0d0d0d0d, %%rbp\n\t"                  \
  "movabs $0x0707070707070707, %%rdi\n\t movabs $0x0606060606060606, %%rsi\n\t"                  \
  "movabs $0x0303030303030303, %%rdx\n\t movabs $0x0808080808080808, %%r8\n\t"                   \
  "movabs $0x0909090909090909, %%r9\n\t movabs $0x1010101010101010, %%r10\n\t"                   \
  "movabs $0x1212121212121212, %%r12\n\t movabs $0x1313131313131313, %%r13\n\t"                  \
  "movabs $0x1414141414141414, %%r14\n\t movabs $0x1515151515151515, %%r15\n\t"                  \
  "1: mov $34, %%eax\n\t syscall\n\t incq regs_wakeups(%%rip)\n\t"                               \
  "cmpl $0, regs_term(%%rip)\n\t je 1b\n\t"                                                      \
  "mov %%rbx, rt_gout+0(%%rip)\n\t mov %%rbp, rt_gout+8(%%rip)\n\t mov %%rdi, rt_gout+16(%%rip)\n\t" \
  "mov %%rsi, rt_gout+24(%%rip)\n\t mov %%rdx, rt_gout+32(%%rip)\n\t mov %%r8, rt_gout+40(%%rip)\n\t" \
  "mov %%r9, rt_gout+48(%%rip)\n\t mov %%r10, rt_gout+56(%%rip)\n\t mov %%r12, rt_gout+64(%%rip)\n\t" \
  "mov %%r13, rt_gout+72(%%rip)\n\t mov %%r14, rt_gout+80(%%rip)\n\t mov %%r15, rt_gout+88(%%rip)\n\t" \
  "pop %%rbp\n\t"                                                                              \
  "fstpt rt_st_out(%%rip)\n\t fstpt rt_st_out+16(%%rip)\n\t fnstcw rt_fcw_out(%%rip)\n\t"        \
  "stmxcsr rt_mxcsr_out(%%rip)\n\t"
#define REGS_CLOBBERS "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", \
  "memory", "cc", "st", "st(1)", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
  "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

#define REGS_Y(n) "vmovdqu rt_vin+" #n "*64(%%rip), %%ymm" #n "\n\t"
#define REGS_YS(n) "vmovdqu %%ymm" #n ", rt_vout+" #n "*64(%%rip)\n\t"
#define REGS_Z(n) "vmovdqu64 rt_vin+" #n "*64(%%rip), %%zmm" #n "\n\t"
#define REGS_ZS(n) "vmovdqu64 %%zmm" #n ", rt_vout+" #n "*64(%%rip)\n\t"
#define REGS_K(n) "kmovq rt_kin+" #n "*8(%%rip), %%k" #n "\n\t"
#define REGS_KS(n) "kmovq %%k" #n ", rt_kout+" #n "*8(%%rip)\n\t"
#define REGS_ALL16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define REGS_ALL32(M) REGS_ALL16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define REGS_ALL8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((noinline)) static void regs_hold_avx2(void) {
  __asm__ volatile(REGS_ALL16(REGS_Y) REGS_ENTER REGS_ALL16(REGS_YS) ::: REGS_CLOBBERS);
}

__attribute__((noinline, target("avx512f,avx512bw"))) static void regs_hold_avx512(void) {
  __asm__ volatile(REGS_ALL32(REGS_Z) REGS_ALL8(REGS_K) REGS_ENTER REGS_ALL32(REGS_ZS) REGS_ALL8(REGS_KS) ::: REGS_CLOBBERS,
                   "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26",
                   "xmm27", "xmm28", "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

/** Fills the input patterns and waits in pause() with every register loaded until regs_term. */
static void regs_hold(int avx512) {
  for (int n = 0; n < 32; n++)
    for (int w = 0; w < 16; w++) rt_vin[n][w] = 0xA5000000u | (uint32_t)n << 16 | (uint32_t)w;
  for (int n = 0; n < 8; n++) rt_kin[n] = 0x0101010101010101ull * (uint64_t)(n + 1);
  if (avx512) regs_hold_avx512(); else regs_hold_avx2();
}

/** NULL when every register came back as loaded, else the first difference (in buf). */
static const char *regs_mismatch(char *buf, size_t len, int avx512) {
  for (int i = 0; i < 12; i++)
    if (rt_gout[i] != GP_WANT[i])
      return snprintf(buf, len, "%s = %#llx, want %#llx", GP_NAME[i], (unsigned long long)rt_gout[i], (unsigned long long)GP_WANT[i]), buf;
  int nregs = avx512 ? 32 : 16, nwords = avx512 ? 16 : 8;
  for (int n = 0; n < nregs; n++)
    for (int w = 0; w < nwords; w++)
      if (rt_vout[n][w] != rt_vin[n][w])
        return snprintf(buf, len, "vector register %d word %d = %#x, want %#x", n, w, rt_vout[n][w], rt_vin[n][w]), buf;
  for (int n = 0; avx512 && n < 8; n++)
    if (rt_kout[n] != rt_kin[n])
      return snprintf(buf, len, "k%d = %#llx, want %#llx", n, (unsigned long long)rt_kout[n], (unsigned long long)rt_kin[n]), buf;
  long double l2t = 0, pi = 0;
  uint16_t cw_default = 0x37f; /* the constants load rounded the way the loop had them */
  __asm__ volatile("fldcw rt_fcw_in(%%rip)\n\t fldl2t\n\t fstpt %0\n\t fldpi\n\t fstpt %1\n\t fldcw %2"
                   : "=m"(l2t), "=m"(pi) : "m"(cw_default));
  if (rt_st_out[0] != l2t || rt_st_out[1] != pi) return snprintf(buf, len, "x87 registers st0/st1 differ"), buf;
  if (rt_fcw_out != rt_fcw_in) return snprintf(buf, len, "x87 control word %#x, want %#x", rt_fcw_out, rt_fcw_in), buf;
  if (rt_mxcsr_out != rt_mxcsr_in) return snprintf(buf, len, "MXCSR %#x, want %#x", rt_mxcsr_out, rt_mxcsr_in), buf;
  return NULL;
}
#endif
