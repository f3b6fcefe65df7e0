/*
 * The ppc64 rt_sigreturn frame as the kernel lays it out, built from the kernel's own uapi structs
 * (asm/ucontext.h, asm/sigcontext.h, asm/elf.h) and filled the way arch/powerpc/kernel/signal_64.c
 * fills it on signal delivery (setup_sigcontext / setup_tm_sigcontexts): the reference that
 * test/cross/ppc64-sigframe.test.ts compares cryo's frame builder with, byte for byte.
 *
 * stdin: u64 frame address, u64 sigmask, u64 tm (0/1), then the live regsets NT_PRSTATUS (384 bytes),
 * NT_PRFPREG (264), NT_PPC_VMX (544), NT_PPC_VSX (256) and, when tm, the checkpointed ones in the
 * same order and sizes. stdout: the frame's ucontext(s).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <asm/ptrace.h>
#include <asm/elf.h>
#include <asm/ucontext.h>

#define MSR_VSX (1UL << 23)
#define MSR_VEC (1UL << 25)
#define SS_DISABLE_ 2

/* The head of the kernel's struct rt_sigframe with CONFIG_PPC_TRANSACTIONAL_MEM. */
struct rt_sigframe_head {
	struct ucontext uc;
	struct ucontext uc_transact;
};

struct state {
	unsigned long gp[ELF_NGREG];
	double fp[ELF_NFPREG];
	unsigned char vmx[ELF_NVRREG * 16];
	uint64_t vsx[32];
};

static int read_all(void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(0, (char *)p + got, n - got);
		if (r <= 0)
			return -1;
		got += r;
	}
	return 0;
}

static int read_state(struct state *s)
{
	return read_all(s->gp, sizeof(s->gp)) || read_all(s->fp, sizeof(s->fp)) || read_all(s->vmx, sizeof(s->vmx)) ||
	       read_all(s->vsx, sizeof(s->vsx));
}

/* One sigcontext of the frame at `frame` (its user address `base`), as signal delivery writes it. */
static void fill(struct sigcontext *sc, unsigned char *frame, unsigned long base, const struct state *s, unsigned long msr)
{
	unsigned long sc_addr = base + ((unsigned char *)sc - frame);
	/* sigcontext_vmx_regs(): the first quadword boundary inside vmx_reserve. */
	unsigned long v_addr = (sc_addr + offsetof(struct sigcontext, vmx_reserve) + 15) & ~15UL;
	unsigned char *v = frame + (v_addr - base);

	sc->v_regs = (elf_vrreg_t *)v_addr;
	memcpy(v, s->vmx, 33 * 16);				/* vr0..31, vscr */
	memcpy(v + 33 * 16, s->vmx + 33 * 16, 4);		/* vrsave: first word of v_regs[33] */
	memcpy(sc->fp_regs, s->fp, sizeof(sc->fp_regs));	/* fpr0..31, fpscr */
	memcpy(v + ELF_NVRREG * 16, s->vsx, sizeof(s->vsx));	/* VSX doubleword 1 after the VMX area */
	sc->regs = (struct pt_regs *)(sc_addr + offsetof(struct sigcontext, gp_regs));
	memcpy(sc->gp_regs, s->gp, sizeof(struct pt_regs));
	sc->gp_regs[PT_MSR] = msr;
	sc->gp_regs[PT_SOFTE] = 1;
	sc->signal = 0;
	sc->handler = 0;
	sc->oldmask = 0;
}

int main(void)
{
	static struct rt_sigframe_head f;
	static struct state live, ck;
	uint64_t base, sigmask, tm;

	if (read_all(&base, 8) || read_all(&sigmask, 8) || read_all(&tm, 8) || read_state(&live) || (tm && read_state(&ck))) {
		fprintf(stderr, "short input\n");
		return 2;
	}
	memset(&f, 0, sizeof(f));
	f.uc.uc_flags = 0;
	f.uc.uc_stack.ss_sp = NULL;
	f.uc.uc_stack.ss_flags = SS_DISABLE_;
	f.uc.uc_stack.ss_size = 0;
	memcpy(&f.uc.uc_sigmask, &sigmask, 8);
	/* The thread used VMX and VSX (cryo always restores both): MSR_VEC and MSR_VSX in the frame. */
	unsigned long msr = live.gp[PT_MSR] | MSR_VEC | MSR_VSX;
	if (!tm) {
		f.uc.uc_link = NULL;
		fill(&f.uc.uc_mcontext, (unsigned char *)&f, base, &live, msr);
	} else {
		/* setup_tm_sigcontexts: checkpointed state in uc, transactional in uc_transact, one MSR. */
		f.uc.uc_link = (struct ucontext *)(base + offsetof(struct rt_sigframe_head, uc_transact));
		fill(&f.uc.uc_mcontext, (unsigned char *)&f, base, &ck, msr);
		fill(&f.uc_transact.uc_mcontext, (unsigned char *)&f, base, &live, msr);
	}
	fwrite(&f, tm ? sizeof(f) : sizeof(f.uc), 1, stdout);
	return 0;
}
