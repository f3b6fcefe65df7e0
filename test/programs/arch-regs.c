// Holds known values in general and vector registers inside one asm block and
// spins until a tracer changes r13; then checks what the tracer changed and
// that everything else kept its value, and prints PASS or FAIL.
//   stdout: "READY <avx512 0|1>" just before loading the registers (the tracer
//   retries until it finds r12 = 0x1212121212121212), then PASS/FAIL.
// The pattern (shared with test/e2e/arch-regs.test.ts): 32-bit word w of
// vector register n = 0xA5000000 | n << 16 | w; k<n> = 0x0101010101010101 * (n + 1).
// The tracer sets r13 = 0x1313131313131313, rbx = RBX (argv[1], hex; default 0x0c0c0c0c0c0c0c0c),
// xmm3 word 0 = 0xdeadbeef,
// ymm7 word 4 = 0xfeedface and, with AVX-512, zmm9 word 12 = 0xc0ffee00,
// zmm20 word 0 = 0xabad1dea and k2 = 0x123456789abcdef0.
#include <cpuid.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t vin[32][16] __attribute__((aligned(64)));
static uint32_t vout[32][16] __attribute__((aligned(64)));
static uint64_t kin[8], kout[8];
static uint64_t gout[5];

static void close_inherited(void) {
  DIR *d = opendir("/proc/self/fd");
  int keep = d ? dirfd(d) : -1;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (fd > 2 && fd != keep) close(fd);
  }
  if (d) closedir(d);
}

static int has_avx512(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  if (!(b & (1u << 16)) || !(b & (1u << 30))) return 0; // AVX512F, AVX512BW (kmovq)
  __get_cpuid(1, &a, &b, &c, &d);
  if (!(c & (1u << 27))) return 0; // OSXSAVE
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xe6) == 0xe6;
}

#define GP_LOAD                                                                    \
  "movabs $0x1212121212121212, %%r12\n\t"                                          \
  "mov %%r12, %%r13\n\t"                                                           \
  "movabs $0x1414141414141414, %%r14\n\t"                                          \
  "movabs $0x1515151515151515, %%r15\n\t"                                          \
  "movabs $0x0b0b0b0b0b0b0b0b, %%rbx\n\t"
#define GP_SPIN_STORE                                                              \
  "1: pause\n\t cmp %%r12, %%r13\n\t je 1b\n\t"                                    \
  "mov %%r12, 0(%[g])\n\t mov %%r13, 8(%[g])\n\t mov %%r14, 16(%[g])\n\t"           \
  "mov %%r15, 24(%[g])\n\t mov %%rbx, 32(%[g])\n\t"

__attribute__((noinline)) static void run_avx2(void) {
  __asm__ volatile(
      "vmovdqu 0*64(%[vi]), %%ymm0\n\t vmovdqu 1*64(%[vi]), %%ymm1\n\t vmovdqu 2*64(%[vi]), %%ymm2\n\t"
      "vmovdqu 3*64(%[vi]), %%ymm3\n\t vmovdqu 4*64(%[vi]), %%ymm4\n\t vmovdqu 5*64(%[vi]), %%ymm5\n\t"
      "vmovdqu 6*64(%[vi]), %%ymm6\n\t vmovdqu 7*64(%[vi]), %%ymm7\n\t vmovdqu 8*64(%[vi]), %%ymm8\n\t"
      "vmovdqu 9*64(%[vi]), %%ymm9\n\t vmovdqu 10*64(%[vi]), %%ymm10\n\t vmovdqu 11*64(%[vi]), %%ymm11\n\t"
      "vmovdqu 12*64(%[vi]), %%ymm12\n\t vmovdqu 13*64(%[vi]), %%ymm13\n\t vmovdqu 14*64(%[vi]), %%ymm14\n\t"
      "vmovdqu 15*64(%[vi]), %%ymm15\n\t"
      GP_LOAD
      GP_SPIN_STORE
      "vmovdqu %%ymm0, 0*64(%[vo])\n\t vmovdqu %%ymm1, 1*64(%[vo])\n\t vmovdqu %%ymm2, 2*64(%[vo])\n\t"
      "vmovdqu %%ymm3, 3*64(%[vo])\n\t vmovdqu %%ymm4, 4*64(%[vo])\n\t vmovdqu %%ymm5, 5*64(%[vo])\n\t"
      "vmovdqu %%ymm6, 6*64(%[vo])\n\t vmovdqu %%ymm7, 7*64(%[vo])\n\t vmovdqu %%ymm8, 8*64(%[vo])\n\t"
      "vmovdqu %%ymm9, 9*64(%[vo])\n\t vmovdqu %%ymm10, 10*64(%[vo])\n\t vmovdqu %%ymm11, 11*64(%[vo])\n\t"
      "vmovdqu %%ymm12, 12*64(%[vo])\n\t vmovdqu %%ymm13, 13*64(%[vo])\n\t vmovdqu %%ymm14, 14*64(%[vo])\n\t"
      "vmovdqu %%ymm15, 15*64(%[vo])\n\t"
      :
      : [vi] "r"(vin), [vo] "r"(vout), [g] "r"(gout)
      : "r12", "r13", "r14", "r15", "rbx", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
        "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

#define Z(n) "vmovdqu64 " #n "*64(%[vi]), %%zmm" #n "\n\t"
#define ZS(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%[vo])\n\t"
#define K(n) "kmovq " #n "*8(%[ki]), %%k" #n "\n\t"
#define KS(n) "kmovq %%k" #n ", " #n "*8(%[ko])\n\t"
#define ALL32(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15) \
  M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) M(29) M(30) M(31)
#define ALL8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

__attribute__((noinline, target("avx512f,avx512bw"))) static void run_avx512(void) {
  __asm__ volatile(
      ALL32(Z) ALL8(K)
      GP_LOAD
      GP_SPIN_STORE
      ALL32(ZS) ALL8(KS)
      :
      : [vi] "r"(vin), [vo] "r"(vout), [g] "r"(gout), [ki] "r"(kin), [ko] "r"(kout)
      : "r12", "r13", "r14", "r15", "rbx", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5",
        "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17",
        "xmm18", "xmm19", "xmm20", "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",
        "xmm29", "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

int main(int argc, char **argv) {
  close_inherited();
  uint64_t rbx_want = argc > 1 ? strtoull(argv[1], NULL, 16) : 0x0c0c0c0c0c0c0c0cull;
  int avx512 = has_avx512();
  for (int n = 0; n < 32; n++)
    for (int w = 0; w < 16; w++) vin[n][w] = 0xA5000000u | (uint32_t)n << 16 | (uint32_t)w;
  for (int n = 0; n < 8; n++) kin[n] = 0x0101010101010101ull * (uint64_t)(n + 1);
  printf("READY %d\n", avx512);
  fflush(stdout);
  if (avx512) run_avx512(); else run_avx2();

  // What the tracer was asked to change.
  uint32_t want[32][16];
  memcpy(want, vin, sizeof(want));
  want[3][0] = 0xdeadbeef;
  want[7][4] = 0xfeedface;
  uint64_t kwant[8];
  memcpy(kwant, kin, sizeof(kwant));
  if (avx512) { want[9][12] = 0xc0ffee00; want[20][0] = 0xabad1dea; kwant[2] = 0x123456789abcdef0ull; }
  int fails = 0;
  uint64_t gwant[5] = { 0x1212121212121212ull, 0x1313131313131313ull, 0x1414141414141414ull, 0x1515151515151515ull, rbx_want };
  static const char *gname[5] = { "r12", "r13", "r14", "r15", "rbx" };
  for (int i = 0; i < 5; i++)
    if (gout[i] != gwant[i]) { printf("FAIL: %s = %#llx, want %#llx\n", gname[i], (unsigned long long)gout[i], (unsigned long long)gwant[i]); fails++; }
  int nregs = avx512 ? 32 : 16, nwords = avx512 ? 16 : 8;
  for (int n = 0; n < nregs; n++)
    for (int w = 0; w < nwords; w++)
      if (vout[n][w] != want[n][w] && fails++ < 10)
        printf("FAIL: vector %d word %d = %#x, want %#x\n", n, w, vout[n][w], want[n][w]);
  for (int n = 0; avx512 && n < 8; n++)
    if (kout[n] != kwant[n] && fails++ < 10) printf("FAIL: k%d = %#llx\n", n, (unsigned long long)kout[n]);
  printf(fails ? "FAIL\n" : "PASS\n");
  return fails ? 1 : 0;
}
