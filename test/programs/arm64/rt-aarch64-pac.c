/* rt-aarch64-pac: a process's own pointer-authentication keys come back: pointers it signed
 * before the dump still authenticate after restore, and signing again gives the same codes.
 * usage: rt-aarch64-pac OUTFILE DIR
 * Signs a pointer with each of the IA, IB, DA and DB keys (pacia/pacib/pacda/pacdb, modifier 42)
 * and with the generic key (pacga), waits for SIGTERM, then signs the same pointer again and
 * compares, and authenticates the old signed values (autia..autdb: a wrong key leaves an invalid
 * pointer, or faults on CPUs with FEAT_FPAC).
 * READY signed=IA */
#include "../rt.h"
#include <stdint.h>
#include <sys/auxv.h>

#ifndef HWCAP_PACA
#define HWCAP_PACA (1UL << 30)
#endif
#ifndef HWCAP_PACG
#define HWCAP_PACG (1UL << 31)
#endif

#define SIGN(insn, p, m) ({ uint64_t _v = (p); __asm__ volatile(".arch armv8.3-a\n\t" insn " %0, %1" : "+r"(_v) : "r"((uint64_t)(m))); _v; })
#define AUTH(insn, p, m) SIGN(insn, p, m)

static uint64_t sign_all(uint64_t p, uint64_t out[5]) {
  out[0] = SIGN("pacia", p, 42);
  out[1] = SIGN("pacib", p, 42);
  out[2] = SIGN("pacda", p, 42);
  out[3] = SIGN("pacdb", p, 42);
  uint64_t g;
  __asm__ volatile(".arch armv8.3-a\n\t pacga %0, %1, %2" : "=r"(g) : "r"(p), "r"((uint64_t)42));
  out[4] = g;
  return out[0];
}

static int target_value;

int main(int argc, char **argv) {
  rt_start(argc, argv);
  unsigned long hw = getauxval(AT_HWCAP);
  if (!(hw & HWCAP_PACA) || !(hw & HWCAP_PACG)) RT_FAIL("this CPU has no pointer authentication (AT_HWCAP %#lx)", hw);
  uint64_t p = (uint64_t)&target_value;
  uint64_t before[5], after[5];
  sign_all(p, before);
  RT_CHECK(before[0] != p, "pacia left the pointer unsigned");
  rt_ready("signed=%#llx\n", (unsigned long long)before[0]);
  rt_wait_term();

  sign_all(p, after);
  static const char *names[5] = { "IA", "IB", "DA", "DB", "GA" };
  for (int k = 0; k < 5; k++)
    RT_CHECK(after[k] == before[k], "the %s key signs %#llx as %#llx, before the dump %#llx", names[k], (unsigned long long)p,
             (unsigned long long)after[k], (unsigned long long)before[k]);
  RT_CHECK(AUTH("autia", before[0], 42) == p, "autia of the pointer signed before the dump fails");
  RT_CHECK(AUTH("autib", before[1], 42) == p, "autib of the pointer signed before the dump fails");
  RT_CHECK(AUTH("autda", before[2], 42) == p, "autda of the pointer signed before the dump fails");
  RT_CHECK(AUTH("autdb", before[3], 42) == p, "autdb of the pointer signed before the dump fails");
  rt_pass();
}
