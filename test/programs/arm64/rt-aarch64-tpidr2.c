/* rt-aarch64-tpidr2: SME's TPIDR2_EL0 comes back.
 * usage: rt-aarch64-tpidr2 OUTFILE DIR
 * Sets TPIDR2_EL0 (a user register of CPUs with SME, the SME lazy-save ABI's block pointer) to a
 * known value, waits for SIGTERM and reads it back.
 * READY tpidr2=0x... */
#include "../rt.h"
#include <stdint.h>
#include <sys/auxv.h>

#ifndef HWCAP2_SME
#define HWCAP2_SME (1UL << 23)
#endif
#define WANT 0x5a5a12345678a5a0ULL

int main(int argc, char **argv) {
  rt_start(argc, argv);
  if (!(getauxval(AT_HWCAP2) & HWCAP2_SME)) RT_FAIL("this CPU has no SME (AT_HWCAP2 %#lx)", getauxval(AT_HWCAP2));
  uint64_t v = WANT;
  __asm__ volatile("msr S3_3_C13_C0_5, %0" : : "r"(v));
  rt_ready("tpidr2=%#llx\n", (unsigned long long)v);
  rt_wait_term();
  uint64_t got;
  __asm__ volatile("mrs %0, S3_3_C13_C0_5" : "=r"(got));
  RT_CHECK(got == WANT, "tpidr2_el0 = %#llx, want %#llx", (unsigned long long)got, WANT);
  rt_pass();
}
