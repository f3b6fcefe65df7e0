/* rt-aarch64-mte: memory tags (MTE) and the tag-check mode come back.
 * usage: rt-aarch64-mte OUTFILE DIR
 * Turns on synchronous tag checks (PR_SET_TAGGED_ADDR_CTRL), maps four PROT_MTE pages, gives every
 * 16-byte granule of page k < 2 the tag 4k + 3 and granule g of page 2 the tag 1 + g % 15 (stg), and
 * writes known data through the tagged pointers; page 3 keeps tag 0. After SIGTERM: a load
 * through a wrong tag must fault (SIGSEGV, SEGV_MTESERR), every granule must have its tag (ldg) and
 * its data (loaded through the right tag, which must not fault), and the control word must be as set.
 * READY ctrl=0x... */
#include "../rt.h"
#include <setjmp.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#ifndef HWCAP2_MTE
#define HWCAP2_MTE (1UL << 18)
#endif
#ifndef PROT_MTE
#define PROT_MTE 0x20
#endif
#ifndef PR_SET_TAGGED_ADDR_CTRL
#define PR_SET_TAGGED_ADDR_CTRL 55
#define PR_GET_TAGGED_ADDR_CTRL 56
#define PR_TAGGED_ADDR_ENABLE (1UL << 0)
#endif
#ifndef PR_MTE_TCF_SYNC
#define PR_MTE_TCF_SYNC (1UL << 1)
#define PR_MTE_TAG_SHIFT 3
#endif
#ifndef SEGV_MTESERR
#define SEGV_MTESERR 9
#endif

#define PAGE 4096
#define PAGES 4
#define GRANULES (PAGES * PAGE / 16)

static inline uint64_t with_tag(uint64_t p, unsigned tag) { return (p & ~(0xfUL << 56)) | ((uint64_t)tag << 56); }
static inline void set_tag(uint64_t p) { __asm__ volatile(".arch armv8.5-a+memtag\n\tstg %0, [%0]" : : "r"(p) : "memory"); }
static inline unsigned get_tag(uint64_t p) {
  uint64_t v = p;
  __asm__ volatile(".arch armv8.5-a+memtag\n\tldg %0, [%1]" : "+r"(v) : "r"(p) : "memory");
  return (v >> 56) & 0xf;
}
static inline unsigned want_tag(int i) {
  int page = i / (PAGE / 16), g = i % (PAGE / 16);
  return page < 2 ? (unsigned)(4 * page + 3) : page == 2 ? (unsigned)(1 + g % 15) : 0;
}
static inline uint64_t want_data(int i) { return 0x4d54450000000000ULL | (uint64_t)i; }

static sigjmp_buf jump;
static volatile int fault_code;
static void on_segv(int sig, siginfo_t *si, void *uc) {
  (void)sig; (void)uc;
  fault_code = si->si_code;
  siglongjmp(jump, 1);
}

int main(int argc, char **argv) {
  rt_start(argc, argv);
  unsigned long hw2 = getauxval(AT_HWCAP2);
  if (!(hw2 & HWCAP2_MTE)) RT_FAIL("this CPU has no MTE (AT_HWCAP2 %#lx)", hw2);
  unsigned long ctrl = PR_TAGGED_ADDR_ENABLE | PR_MTE_TCF_SYNC | (0xfffeUL << PR_MTE_TAG_SHIFT);
  if (prctl(PR_SET_TAGGED_ADDR_CTRL, ctrl, 0, 0, 0) != 0) RT_FAIL("PR_SET_TAGGED_ADDR_CTRL: %s", strerror(errno));
  uint8_t *mem = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE | PROT_MTE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) RT_FAIL("mmap PROT_MTE: %s", strerror(errno));
  for (int i = 0; i < GRANULES; i++) {
    uint64_t p = with_tag((uint64_t)(mem + i * 16), want_tag(i));
    if (want_tag(i) != 0) set_tag(p);
    *(volatile uint64_t *)p = want_data(i);
  }
  rt_ready("ctrl=%#lx mem=%p\n", ctrl, (void *)mem);
  rt_wait_term();

  struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };
  sigaction(SIGSEGV, &sa, NULL);
  /* Granule 0 has tag 3: tag 5 is wrong. */
  volatile uint64_t *wrong = (volatile uint64_t *)with_tag((uint64_t)mem, 5);
  if (sigsetjmp(jump, 1) == 0) {
    uint64_t v = *wrong;
    (void)v;
    RT_FAIL("a load through a wrong tag did not fault");
  }
  RT_CHECK(fault_code == SEGV_MTESERR, "a load through a wrong tag faulted with si_code %d, not SEGV_MTESERR", fault_code);
  for (int i = 0; i < GRANULES; i++) {
    uint64_t p = with_tag((uint64_t)(mem + i * 16), want_tag(i));
    unsigned t = get_tag((uint64_t)(mem + i * 16));
    RT_CHECK(t == want_tag(i), "page %d granule %d tag = %u, want %u", i / (PAGE / 16), i % (PAGE / 16), t, want_tag(i));
    if (sigsetjmp(jump, 1) != 0) RT_FAIL("a load through the right tag %u of granule %d faulted (si_code %d)", t, i, fault_code);
    uint64_t v = *(volatile uint64_t *)p;
    RT_CHECK(v == want_data(i), "granule %d data = %#llx, want %#llx", i, (unsigned long long)v, (unsigned long long)want_data(i));
  }
  long got = prctl(PR_GET_TAGGED_ADDR_CTRL, 0, 0, 0, 0);
  RT_CHECK((unsigned long)got == ctrl, "tagged_addr_ctrl = %#lx, want %#lx", (unsigned long)got, ctrl);
  rt_pass();
}
