/* The kernel's aarch64 signal frame for test/cross/aarch64-sigframe.test.ts, filled the way
 * arch/arm64/kernel/signal.c setup_sigframe does from a thread's regsets, using the uapi/glibc
 * struct definitions (the layout is theirs, not cryo's). stdin: frame address, sigmask,
 * ss_sp, ss_flags, ss_size (u64 each), struct user_pt_regs, struct user_fpsimd_state, then SME:
 * present, streaming vector length, ZA on, ZT0 there (u64 each), ZA's bytes and ZT0's if so.
 * The za_context and zt_context records are filled as preserve_za_context and preserve_zt_context
 * do; they need uapi headers of 6.3 or later (zt_context), else an SME input exits 3.
 * stdout: the rt_sigframe followed by its frame record { x29, x30 }. */
#include <asm/ptrace.h>
#include <asm/sigcontext.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

struct rt_sigframe {
  siginfo_t info;
  ucontext_t uc;
};
struct frame_record {
  uint64_t fp, lr;
};
struct layout {
  struct rt_sigframe f;
  struct frame_record rec;
};
_Static_assert(sizeof(struct rt_sigframe) == 4688, "rt_sigframe size");
_Static_assert(offsetof(struct layout, rec) == sizeof(struct rt_sigframe), "frame record right above");

static void readn(void *p, size_t n) {
  if (fread(p, 1, n, stdin) != n) _exit(2);
}

int main(void) {
  uint64_t head[5];
  struct user_pt_regs gp;
  struct user_fpsimd_state fp;
  readn(head, sizeof head);
  readn(&gp, sizeof gp);
  readn(&fp, sizeof fp);
  uint64_t sme[4];
  readn(sme, sizeof sme);
  static struct layout l;
  memset(&l, 0, sizeof l);
  ucontext_t *uc = &l.f.uc;
  uc->uc_stack.ss_sp = (void *)head[2];
  uc->uc_stack.ss_flags = (int)head[3];
  uc->uc_stack.ss_size = head[4];
  memcpy(&uc->uc_sigmask, &head[1], 8);
  mcontext_t *mc = &uc->uc_mcontext;
  for (int i = 0; i < 31; i++) mc->regs[i] = gp.regs[i];
  mc->sp = gp.sp;
  mc->pc = gp.pc;
  mc->pstate = gp.pstate;
  struct fpsimd_context *fc = (struct fpsimd_context *)mc->__reserved;
  fc->head.magic = FPSIMD_MAGIC;
  fc->head.size = sizeof *fc;
  fc->fpsr = fp.fpsr;
  fc->fpcr = fp.fpcr;
  memcpy(fc->vregs, fp.vregs, sizeof fc->vregs);
  char *next = (char *)(fc + 1);
  if (sme[0]) {
#ifdef ZT_MAGIC
    unsigned vq = sve_vq_from_vl(sme[1]);
    struct za_context *za = (struct za_context *)next;
    za->head.magic = ZA_MAGIC;
    za->head.size = ZA_SIG_CONTEXT_SIZE(sme[2] ? vq : 0);
    za->vl = sme[1];
    if (sme[2]) readn(next + ZA_SIG_REGS_OFFSET, ZA_SIG_REGS_SIZE(vq));
    next += za->head.size;
    if (sme[3]) {
      struct zt_context *zt = (struct zt_context *)next;
      zt->head.magic = ZT_MAGIC;
      zt->head.size = ZT_SIG_CONTEXT_SIZE(1);
      zt->nregs = 1;
      readn(next + ZT_SIG_REGS_OFFSET, ZT_SIG_REGS_SIZE(1));
      next += zt->head.size;
    }
#else
    _exit(3);
#endif
  }
  struct _aarch64_ctx *end = (struct _aarch64_ctx *)next;
  end->magic = 0;
  end->size = 0;
  l.rec.fp = gp.regs[29];
  l.rec.lr = gp.regs[30];
  fwrite(&l, 1, sizeof l, stdout);
  return 0;
}
