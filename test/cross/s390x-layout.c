/* s390x-layout.c: the kernel structs cryo's s390x tables describe, filled field by field with
 * known values by C compiled for s390x (so offsets and byte order are the compiler's), printed as
 * hex for test/cross/s390x-layout.test.ts. Built static, run under qemu-s390x.
 * Value of element i of field number t: (t << 56) | (i << 48) | 0xA1B2C3D4E5F6 (u64),
 * (t << 24) | (i << 16) | 0xC3D4 (u32). Field numbers are listed in the test. */
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <asm/ptrace.h>
#include <asm/sigcontext.h>
#include <asm/ucontext.h>
#include <asm/guarded_storage.h>
#include <asm/runtime_instr.h>

/* arch/s390/kernel/signal.c's struct rt_sigframe */
struct rt_sigframe {
	unsigned char callee_used_stack[__SIGNAL_FRAMESIZE];
	unsigned short svc_insn;
	siginfo_t info;
	struct ucontext_extended uc;
};

static unsigned long v64(unsigned t, unsigned i) { return ((unsigned long)t << 56) | ((unsigned long)i << 48) | 0xA1B2C3D4E5F6UL; }
static unsigned int v32(unsigned t, unsigned i) { return (t << 24) | (i << 16) | 0xC3D4; }

static void dump(const char *name, const void *p, size_t n) {
	const unsigned char *b = p;
	printf("%s ", name);
	for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
	printf("\n");
}

int main(void) {
	static s390_regs prs; static s390_fp_regs fp; static unsigned long vlow[16], vhigh[32];
	static struct gs_cb gs, gsbc; static struct runtime_instr_cb ri; static unsigned int syscall_nr;
	static struct rt_sigframe f;
	int i;
	memset(&prs, 0, sizeof prs);
	prs.psw.mask = v64(1, 0); prs.psw.addr = v64(2, 0);
	for (i = 0; i < 16; i++) prs.gprs[i] = v64(3, i);
	for (i = 0; i < 16; i++) prs.acrs[i] = v32(4, i);
	prs.orig_gpr2 = v64(5, 0);
	syscall_nr = v32(6, 0);
	fp.fpc = v32(7, 0);
	for (i = 0; i < 16; i++) memcpy(&fp.fprs[i], &(unsigned long){ v64(8, i) }, 8);
	for (i = 0; i < 16; i++) vlow[i] = v64(9, i);
	for (i = 0; i < 32; i++) vhigh[i] = v64(10, i);
	{
		unsigned long w[4];
		for (i = 0; i < 4; i++) w[i] = v64(11, i);
		memcpy(&gs, w, sizeof gs);
		for (i = 0; i < 4; i++) w[i] = v64(12, i);
		memcpy(&gsbc, w, sizeof gsbc);
	}
	{ unsigned long w[8]; for (i = 0; i < 8; i++) w[i] = v64(13, i); memcpy(&ri, w, sizeof ri); }
	dump("NT_PRSTATUS", &prs, sizeof prs);
	dump("NT_S390_SYSTEM_CALL", &syscall_nr, sizeof syscall_nr);
	dump("NT_PRFPREG", &fp, sizeof fp);
	dump("NT_S390_VXRS_LOW", vlow, sizeof vlow);
	dump("NT_S390_VXRS_HIGH", vhigh, sizeof vhigh);
	dump("NT_S390_GS_CB", &gs, sizeof gs);
	dump("NT_S390_GS_BC", &gsbc, sizeof gsbc);
	dump("NT_S390_RI_CB", &ri, sizeof ri);

	/* The frame rt_sigreturn reads, as the kernel's setup_rt_frame would lay it out. */
	memset(&f, 0, sizeof f);
	*(unsigned long *)f.callee_used_stack = prs.gprs[15]; /* back chain */
	f.svc_insn = 0x0a00 | 173;                             /* svc __NR_rt_sigreturn */
	f.uc.uc_flags = UC_VXRS;
	f.uc.uc_link = 0;
	f.uc.uc_stack.ss_sp = (void *)v64(14, 0);
	f.uc.uc_stack.ss_flags = 1;                            /* SS_ONSTACK */
	f.uc.uc_stack.ss_size = v64(15, 0);
	f.uc.uc_mcontext.regs.psw.mask = prs.psw.mask;
	f.uc.uc_mcontext.regs.psw.addr = prs.psw.addr;
	memcpy(f.uc.uc_mcontext.regs.gprs, prs.gprs, sizeof prs.gprs);
	memcpy(f.uc.uc_mcontext.regs.acrs, prs.acrs, sizeof prs.acrs);
	f.uc.uc_mcontext.fpregs.fpc = fp.fpc;
	memcpy(f.uc.uc_mcontext.fpregs.fprs, fp.fprs, sizeof fp.fprs);
	memcpy(&f.uc.uc_sigmask, &(unsigned long){ v64(16, 0) }, 8);
	memcpy(f.uc.uc_mcontext_ext.vxrs_low, vlow, sizeof vlow);
	memcpy(f.uc.uc_mcontext_ext.vxrs_high, vhigh, sizeof vhigh);
	dump("RT_SIGFRAME", &f, sizeof f);
	printf("sizes %zu %zu\n", sizeof f, sizeof(struct ucontext_extended));
	return 0;
}
