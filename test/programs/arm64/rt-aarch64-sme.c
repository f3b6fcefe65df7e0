/* rt-aarch64-sme: a thread in SME streaming mode with ZA (and SME2's ZT0) live comes back exactly.
 * usage: rt-aarch64-sme OUTFILE DIR [VL]
 * Sets the streaming vector length to VL bytes, 32 unless given (prctl PR_SME_SET_VL), then one asm
 * block enters streaming mode with ZA on (smstart), loads the streaming z0..z31 (byte i of zN =
 * N * 7 + i * 5 + 3), p0..p15 (byte i of pN = 0x13 * N ^ i * 3), every row of ZA (byte i of row r =
 * r * 11 + i * 13 + 7) and, with SME2, ZT0 (byte i = i * 9 + 0x21), spins without a syscall (a syscall
 * leaves streaming mode) until SIGTERM's handler sets a flag (a handler runs with streaming mode and
 * ZA off; its sigreturn brings both back), then stores SVCR, the streaming vector length (rdsvl) and
 * the registers, ZA and ZT0 only while ZA is still on, and leaves streaming mode (smstop).
 * READY svl=VL zt0=0|1 */
#include "../rt.h"
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/prctl.h>

#ifndef PR_SME_SET_VL
#define PR_SME_SET_VL 63
#endif
#define HWCAP2_SME_BIT (1UL << 23)
#define HWCAP2_SME2_BIT (1UL << 37)
#define VL_MAX 256

uint8_t rt_zin[32 * VL_MAX], rt_zout[32 * VL_MAX];
uint8_t rt_pin[16 * VL_MAX / 8], rt_pout[16 * VL_MAX / 8];
uint8_t rt_zain[VL_MAX * VL_MAX], rt_zaout[VL_MAX * VL_MAX];
uint8_t rt_ztin[64], rt_ztout[64];
uint64_t rt_svl_out, rt_svcr_out;
uint32_t rt_has_zt;
volatile int rt_sme_term;

static void on_term(int s) { (void)s; rt_sme_term = 1; rt_term = 1; }

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
/* SME2's LDR/STR ZT0, [x3] (binutils 2.40 has no SME2). */
#define LDR_ZT0_X3 ".inst 0xe11f8060\n\t"
#define STR_ZT0_X3 ".inst 0xe13f8060\n\t"

__attribute__((noinline)) static void run_spin(void) {
  __asm__ volatile(".arch armv9-a+sme\n\t"
                   "smstart\n\t"
                   "adrp x0, rt_zin\n\t add x0, x0, :lo12:rt_zin\n\t"
                   "adrp x1, rt_pin\n\t add x1, x1, :lo12:rt_pin\n\t"
                   ZALL("ldr")
                   PALL("ldr")
                   "rdsvl x4, #1\n\t mov w12, #0\n\t"
                   "adrp x2, rt_zain\n\t add x2, x2, :lo12:rt_zain\n\t"
                   "1: ldr za[w12, 0], [x2]\n\t add x2, x2, x4\n\t add w12, w12, #1\n\t cmp w12, w4\n\t b.lt 1b\n\t"
                   "adrp x6, rt_has_zt\n\t ldr w6, [x6, :lo12:rt_has_zt]\n\t cbz w6, 2f\n\t"
                   "adrp x3, rt_ztin\n\t add x3, x3, :lo12:rt_ztin\n\t" LDR_ZT0_X3
                   "2: adrp x2, rt_sme_term\n\t"
                   "3: ldr w3, [x2, :lo12:rt_sme_term]\n\t cbz w3, 3b\n\t"
                   "mrs x5, svcr\n\t adrp x2, rt_svcr_out\n\t str x5, [x2, :lo12:rt_svcr_out]\n\t"
                   "rdsvl x4, #1\n\t adrp x2, rt_svl_out\n\t str x4, [x2, :lo12:rt_svl_out]\n\t"
                   "adrp x0, rt_zout\n\t add x0, x0, :lo12:rt_zout\n\t"
                   "adrp x1, rt_pout\n\t add x1, x1, :lo12:rt_pout\n\t"
                   ZALL("str")
                   PALL("str")
                   "tbz x5, #1, 5f\n\t mov w12, #0\n\t"
                   "adrp x2, rt_zaout\n\t add x2, x2, :lo12:rt_zaout\n\t"
                   "4: str za[w12, 0], [x2]\n\t add x2, x2, x4\n\t add w12, w12, #1\n\t cmp w12, w4\n\t b.lt 4b\n\t"
                   "cbz w6, 5f\n\t adrp x3, rt_ztout\n\t add x3, x3, :lo12:rt_ztout\n\t" STR_ZT0_X3
                   "5: smstop\n\t"
                   ::: "x0", "x1", "x2", "x3", "x4", "x5", "x6", "x12", "memory", "cc",
                   "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v12", "v13", "v14", "v15",
                   "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31");
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  struct sigaction sa = { .sa_handler = on_term };
  sigaction(SIGTERM, &sa, NULL);
  unsigned long hw2 = getauxval(AT_HWCAP2);
  if (!(hw2 & HWCAP2_SME_BIT)) RT_FAIL("this CPU has no SME");
  rt_has_zt = (hw2 & HWCAP2_SME2_BIT) != 0;
  int VL = argc > 3 ? atoi(argv[3]) : 32;
  if (VL < 16 || VL > VL_MAX || VL % 16) RT_FAIL("vector length %d is not a multiple of 16 from 16 to %d", VL, VL_MAX);
  int got = prctl(PR_SME_SET_VL, VL, 0, 0, 0);
  if (got < 0 || (got & 0xffff) != VL) RT_FAIL("prctl(PR_SME_SET_VL, %d) = %#x", VL, got);
  for (int n = 0; n < 32; n++)
    for (int i = 0; i < VL; i++) rt_zin[n * VL + i] = (uint8_t)(n * 7 + i * 5 + 3);
  for (int n = 0; n < 16; n++)
    for (int i = 0; i < VL / 8; i++) rt_pin[n * VL / 8 + i] = (uint8_t)(0x13 * n ^ i * 3);
  for (int r = 0; r < VL; r++)
    for (int i = 0; i < VL; i++) rt_zain[r * VL + i] = (uint8_t)(r * 11 + i * 13 + 7);
  for (int i = 0; i < 64; i++) rt_ztin[i] = (uint8_t)(i * 9 + 0x21);
  rt_ready("svl=%d zt0=%u\n", VL, rt_has_zt);
  run_spin();

  RT_CHECK((rt_svcr_out & 3) == 3, "SVCR = %#llx, want SM and ZA on (3)", (unsigned long long)rt_svcr_out);
  RT_CHECK(rt_svl_out == (uint64_t)VL, "streaming vector length %llu, want %d", (unsigned long long)rt_svl_out, VL);
  for (int n = 0; n < 32; n++)
    for (int i = 0; i < VL; i++)
      RT_CHECK(rt_zout[n * VL + i] == rt_zin[n * VL + i], "z%d byte %d = %#x, want %#x", n, i, rt_zout[n * VL + i], rt_zin[n * VL + i]);
  for (int n = 0; n < 16; n++)
    for (int i = 0; i < VL / 8; i++)
      RT_CHECK(rt_pout[n * VL / 8 + i] == rt_pin[n * VL / 8 + i], "p%d byte %d = %#x, want %#x", n, i, rt_pout[n * VL / 8 + i], rt_pin[n * VL / 8 + i]);
  for (int r = 0; r < VL; r++)
    for (int i = 0; i < VL; i++)
      RT_CHECK(rt_zaout[r * VL + i] == rt_zain[r * VL + i], "za row %d byte %d = %#x, want %#x", r, i, rt_zaout[r * VL + i], rt_zain[r * VL + i]);
  if (rt_has_zt)
    for (int i = 0; i < 64; i++) RT_CHECK(rt_ztout[i] == rt_ztin[i], "zt0 byte %d = %#x, want %#x", i, rt_ztout[i], rt_ztin[i]);
  rt_pass();
}
