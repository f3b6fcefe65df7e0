/* rt-aarch64-pac: a process's own pointer-authentication keys come back: pointers it signed
 * before the dump still authenticate after restore, and signing again gives the same codes.
 * usage: rt-aarch64-pac OUTFILE DIR
 * Signs a pointer with each of the IA, IB, DA and DB keys (pacia/pacib/pacda/pacdb, modifiers 0..31)
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

/* A code has only 7 to 15 bits here (the rest of the pointer is address and tag), so a changed key can
 * sign one pointer the same by chance; over NMOD modifiers it cannot. */
#define NMOD 32
#define NKEY 5

static void sign_all(uint64_t p, uint64_t out[NMOD][NKEY]) {
  for (uint64_t m = 0; m < NMOD; m++) {
    out[m][0] = SIGN("pacia", p, m);
    out[m][1] = SIGN("pacib", p, m);
    out[m][2] = SIGN("pacda", p, m);
    out[m][3] = SIGN("pacdb", p, m);
    uint64_t g;
    __asm__ volatile(".arch armv8.3-a\n\t pacga %0, %1, %2" : "=r"(g) : "r"(p), "r"(m));
    out[m][4] = g;
  }
}

static int target_value;

int main(int argc, char **argv) {
  rt_start(argc, argv);
  unsigned long hw = getauxval(AT_HWCAP);
  if (!(hw & HWCAP_PACA) || !(hw & HWCAP_PACG)) RT_FAIL("this CPU has no pointer authentication (AT_HWCAP %#lx)", hw);
  uint64_t p = (uint64_t)&target_value;
  static uint64_t before[NMOD][NKEY], after[NMOD][NKEY];
  sign_all(p, before);
  /* One code can equal the pointer's own top bits by chance (1 in 2^7 with 7 bits): not all NMOD of them. */
  int signed_ = 0;
  for (int m = 0; m < NMOD; m++) signed_ += before[m][0] != p;
  RT_CHECK(signed_ > 0, "pacia left the pointer unsigned under all %d modifiers", NMOD);
  rt_ready("signed=%#llx\n", (unsigned long long)before[0][0]);
  rt_wait_term();

  sign_all(p, after);
  static const char *names[NKEY] = { "IA", "IB", "DA", "DB", "GA" };
  for (int k = 0; k < NKEY; k++)
    for (int m = 0; m < NMOD; m++)
      RT_CHECK(after[m][k] == before[m][k], "the %s key signs %#llx as %#llx, before the dump %#llx (modifier %d)", names[k],
               (unsigned long long)p, (unsigned long long)after[m][k], (unsigned long long)before[m][k], m);
  for (uint64_t m = 0; m < NMOD; m++) {
    RT_CHECK(AUTH("autia", before[m][0], m) == p, "autia of the pointer signed before the dump fails (modifier %d)", (int)m);
    RT_CHECK(AUTH("autib", before[m][1], m) == p, "autib of the pointer signed before the dump fails (modifier %d)", (int)m);
    RT_CHECK(AUTH("autda", before[m][2], m) == p, "autda of the pointer signed before the dump fails (modifier %d)", (int)m);
    RT_CHECK(AUTH("autdb", before[m][3], m) == p, "autdb of the pointer signed before the dump fails (modifier %d)", (int)m);
  }
  rt_pass();
}
