/* rt-aarch64-sve: a thread's SVE vector length and its Z, P and FFR registers come back exactly.
 * usage: rt-aarch64-sve OUTFILE DIR [VL]
 * Sets the vector length to VL bytes, 32 unless given (prctl PR_SVE_SET_VL; the kernel's default is
 * longer; 256 needs a signal frame with extra_context), then one
 * asm block loads z0..z31 (byte i of zN = N * 8 + i * 3 + 1), FFR (the first 5 byte elements,
 * through p0) and p0..p15 (byte i of pN = 0x11 * (N & 15) ^ i), spins without a syscall (a syscall
 * drops the SVE registers) until SIGTERM's handler sets a flag, and stores them all and the
 * vector length (rdvl) back. A handler's signal frame keeps SVE state, so the spin sees them intact.
 * READY vl=VL */
#include "../rt.h"
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

#ifndef PR_SVE_SET_VL
#define PR_SVE_SET_VL 50
#endif
#ifndef HWCAP_SVE
#define HWCAP_SVE (1 << 22)
#endif
#define VL_MAX 256

/* Rows at the vector length's stride, as ldr/str [x, #n, MUL VL] address them. */
uint8_t rt_zin[32 * VL_MAX], rt_zout[32 * VL_MAX];
uint8_t rt_pin[16 * VL_MAX / 8], rt_pout[16 * VL_MAX / 8], rt_ffr_out[VL_MAX / 8];
uint64_t rt_vl_out;
volatile int rt_sve_term;

static void on_term(int s) { (void)s; rt_sve_term = 1; rt_term = 1; }

#define Z8(op, a, b, c, d, e, f, g, h) \
  op " z" #a ", [x0, #" #a ", MUL VL]\n\t" op " z" #b ", [x0, #" #b ", MUL VL]\n\t" \
  op " z" #c ", [x0, #" #c ", MUL VL]\n\t" op " z" #d ", [x0, #" #d ", MUL VL]\n\t" \
  op " z" #e ", [x0, #" #e ", MUL VL]\n\t" op " z" #f ", [x0, #" #f ", MUL VL]\n\t" \
  op " z" #g ", [x0, #" #g ", MUL VL]\n\t" op " z" #h ", [x0, #" #h ", MUL VL]\n\t"
#define ZALL(op) Z8(op, 0, 1, 2, 3, 4, 5, 6, 7) Z8(op, 8, 9, 10, 11, 12, 13, 14, 15) \
  Z8(op, 16, 17, 18, 19, 20, 21, 22, 23) Z8(op, 24, 25, 26, 27, 28, 29, 30, 31)
#define P8(op, a, b, c, d, e, f, g, h) \
  op " p" #a ", [x1, #" #a ", MUL VL]\n\t" op " p" #b ", [x1, #" #b ", MUL VL]\n\t" \
  op " p" #c ", [x1, #" #c ", MUL VL]\n\t" op " p" #d ", [x1, #" #d ", MUL VL]\n\t" \
  op " p" #e ", [x1, #" #e ", MUL VL]\n\t" op " p" #f ", [x1, #" #f ", MUL VL]\n\t" \
  op " p" #g ", [x1, #" #g ", MUL VL]\n\t" op " p" #h ", [x1, #" #h ", MUL VL]\n\t"
#define PALL(op) P8(op, 0, 1, 2, 3, 4, 5, 6, 7) P8(op, 8, 9, 10, 11, 12, 13, 14, 15)

__attribute__((noinline)) static void run_spin(void) {
  __asm__ volatile(".arch armv8.2-a+sve\n\t"
                   "adrp x0, rt_zin\n\t add x0, x0, :lo12:rt_zin\n\t"
                   "adrp x1, rt_pin\n\t add x1, x1, :lo12:rt_pin\n\t"
                   ZALL("ldr")
                   "ptrue p0.b, vl5\n\t wrffr p0.b\n\t"
                   PALL("ldr")
                   "adrp x2, rt_sve_term\n\t"
                   "1: ldr w3, [x2, :lo12:rt_sve_term]\n\t cbz w3, 1b\n\t"
                   "adrp x0, rt_zout\n\t add x0, x0, :lo12:rt_zout\n\t"
                   "adrp x1, rt_pout\n\t add x1, x1, :lo12:rt_pout\n\t"
                   ZALL("str")
                   PALL("str")
                   "rdffr p0.b\n\t adrp x2, rt_ffr_out\n\t add x2, x2, :lo12:rt_ffr_out\n\t str p0, [x2]\n\t"
                   "rdvl x3, #1\n\t adrp x2, rt_vl_out\n\t str x3, [x2, :lo12:rt_vl_out]\n\t"
                   ::: "x0", "x1", "x2", "x3", "memory", "cc",
                   "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
                   "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sigaction sa = { .sa_handler = on_term };
  sigaction(SIGTERM, &sa, NULL);
  if (!(getauxval(AT_HWCAP) & HWCAP_SVE)) RT_FAIL("this CPU has no SVE");
  int VL = argc > 3 ? atoi(argv[3]) : 32;
  if (VL < 16 || VL > VL_MAX || VL % 16) RT_FAIL("vector length %d is not a multiple of 16 from 16 to %d", VL, VL_MAX);
  int got = prctl(PR_SVE_SET_VL, VL, 0, 0, 0);
  if (got < 0 || (got & 0xffff) != VL) RT_FAIL("prctl(PR_SVE_SET_VL, %d) = %#x", VL, got);
  for (int n = 0; n < 32; n++)
    for (int i = 0; i < VL; i++) rt_zin[n * VL + i] = (uint8_t)(n * 8 + i * 3 + 1);
  for (int n = 0; n < 16; n++)
    for (int i = 0; i < VL / 8; i++) rt_pin[n * VL / 8 + i] = (uint8_t)(0x11 * (n & 15) ^ i);
  rt_ready("vl=%d\n", VL);
  run_spin();

  RT_CHECK(rt_vl_out == VL, "vector length %llu, want %d", (unsigned long long)rt_vl_out, VL);
  for (int n = 0; n < 32; n++)
    for (int i = 0; i < VL; i++)
      RT_CHECK(rt_zout[n * VL + i] == rt_zin[n * VL + i], "z%d byte %d = %#x, want %#x", n, i, rt_zout[n * VL + i], rt_zin[n * VL + i]);
  for (int n = 0; n < 16; n++)
    for (int i = 0; i < VL / 8; i++)
      RT_CHECK(rt_pout[n * VL / 8 + i] == rt_pin[n * VL / 8 + i], "p%d byte %d = %#x, want %#x", n, i, rt_pout[n * VL / 8 + i], rt_pin[n * VL / 8 + i]);
  uint8_t ffr[VL_MAX / 8] = { 0x1f };
  for (int i = 0; i < VL / 8; i++) RT_CHECK(rt_ffr_out[i] == ffr[i], "ffr byte %d = %#x, want %#x", i, rt_ffr_out[i], ffr[i]);
  rt_pass();
}
