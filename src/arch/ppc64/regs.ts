// THE register description of ppc64: one table per ptrace regset, each row
// saying where a value lives in the kernel's buffer and which CRIU image
// field holds it. Dump (regset -> image), restore by ptrace (image -> regset)
// and the signal frame (image -> sigcontext) are all derived from these
// tables (DESIGN rule 1).
//
// Facts from the kernel's uapi asm/ptrace.h (struct user_pt_regs, PT_*),
// asm/elf.h (ELF_NGREG 48, ELF_NFPREG 33, ELF_NVRREG 34), arch/powerpc/kernel/
// ptrace/ptrace-view.c, ptrace-altivec.c, ptrace-vsx.c and ptrace-tm.c (what
// each regset holds), and CRIU 4.2's images/core-ppc64.proto (field names).

import type { RegField } from '../regtable.js';

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_PPC_VMX = 0x100;
export const NT_PPC_VSX = 0x102;
/** Transactional memory: the checkpointed registers, offered only while a transaction is active or suspended. */
export const NT_PPC_TM_CGPR = 0x108;
export const NT_PPC_TM_CFPR = 0x109;
export const NT_PPC_TM_CVMX = 0x10a;
export const NT_PPC_TM_CVSX = 0x10b;
/** TFHAR, TEXASR, TFIAR. */
export const NT_PPC_TM_SPR = 0x10c;

/** A general register row: its place in the regset; sigcontext.gp_regs uses the same PT_* indices. */
export interface GpReg extends RegField {
  /** rt_sigreturn loads it from the frame's gp_regs (false: the kernel keeps its own, see NOT_RESTORED_BY_SIGRETURN). */
  readonly bySigreturn: boolean;
}

const pt = (name: string, index: number, bySigreturn: boolean): GpReg => ({ name, offset: index * 8, image: 'u64', bySigreturn });

/**
 * struct user_pt_regs (NT_PRSTATUS and NT_PPC_TM_CGPR: ELF_NGREG 48 longs, the last 4 zero) =
 * CRIU's user_ppc64_regs_entry. Not in the image: softe (39, always reads 1, writes ignored),
 * dar and dsisr (41, 42: the last fault's address and cause) and result (43, kernel-internal).
 */
export const GP_REGS: readonly GpReg[] = [
  { name: 'gpr', offset: 0, image: 'u64', count: 32, bySigreturn: true },
  pt('nip', 32, true),
  // rt_sigreturn takes only MSR_LE from the frame; the frame's MSR_VEC/MSR_VSX/TS bits say which state it holds.
  pt('msr', 33, false),
  pt('orig_gpr3', 34, true),
  pt('ctr', 35, true),
  pt('link', 36, true),
  pt('xer', 37, true),
  pt('ccr', 38, true),
  // rt_sigreturn marks the trap "no restart"; a syscall stop's trap is handled at dump (restart.ts).
  pt('trap', 40, false),
];
export const GP_REGS_SIZE = 48 * 8;
export const PT_SOFTE_OFFSET = 39 * 8;
/** dar, dsisr and result: the last fault's and syscall's, which a regset write leaves as they are. */
export const PT_KERNEL_KEPT_OFFSETS = [41, 42, 43].map((word) => word * 8);

/** elf_fpregset_t (NT_PRFPREG, NT_PPC_TM_CFPR): fpr0..31 then fpscr = CRIU's fpregs[33]. */
export const FP_REGS: readonly RegField[] = [{ name: 'fpregs', offset: 0, image: 'u64', count: 33 }];
export const FP_REGS_SIZE = 33 * 8;

/**
 * NT_PPC_VMX / NT_PPC_TM_CVMX: 34 quadwords = vr0..31, vscr (its quadword as the kernel keeps it),
 * vrsave (the first word of the last quadword). CRIU's vrregs holds the first 33 quadwords as 66
 * doublewords in memory order; vrsave its own field.
 */
export const VMX_REGS: readonly RegField[] = [
  { name: 'vrregs', offset: 0, image: 'u64', count: 66 },
  { name: 'vrsave', offset: 33 * 16, image: 'u32' },
];
export const VMX_REGS_SIZE = 34 * 16;

/** NT_PPC_VSX / NT_PPC_TM_CVSX: doubleword 1 of vsr0..31 (doubleword 0 is the FPR, vsr32..63 the VRs). */
export const VSX_REGS: readonly RegField[] = [{ name: 'vsxregs', offset: 0, image: 'u64', count: 32 }];
export const VSX_REGS_SIZE = 32 * 8;

/** NT_PPC_TM_SPR: three doublewords; CRIU keeps them in the top-level gpregs (optional fields 10-12). */
export const TM_SPR_REGS: readonly RegField[] = [
  { name: 'tfhar', offset: 0, image: 'u64' },
  { name: 'texasr', offset: 8, image: 'u64' },
  { name: 'tfiar', offset: 16, image: 'u64' },
];
export const TM_SPR_SIZE = 3 * 8;

/** MSR bits cryo looks at (asm/reg.h). */
export const MSR = {
  LE: 1n << 0n,
  VSX: 1n << 23n,
  VEC: 1n << 25n,
  TM: 1n << 32n,
  /** Transaction state: suspended. */
  TS_S: 1n << 33n,
  /** Transaction state: transactional. */
  TS_T: 1n << 34n,
} as const;
export const MSR_TS_MASK = MSR.TS_S | MSR.TS_T;

/** A transaction is active or suspended (the kernel's MSR_TM_ACTIVE). */
export function msrTmActive(msr: bigint): boolean {
  return (msr & MSR_TS_MASK) !== 0n;
}

/** CR0's summary-overflow bit: the `sc` ABI's error flag (r3 then holds a positive errno). */
export const CR0_SO = 0x10000000n;

/**
 * One state of the thread (live or checkpointed) = one row per regset, naming the image field that
 * holds its table. The live state's regsets and the checkpointed ones (TM) share the tables.
 */
export interface StateRegset {
  readonly field: 'gpregs' | 'fpstate' | 'vrstate' | 'vsxstate';
  readonly table: readonly RegField[];
  readonly size: number;
  readonly live: number;
  readonly checkpointed: number;
}

export const STATE_REGSETS: readonly StateRegset[] = [
  { field: 'gpregs', table: GP_REGS, size: GP_REGS_SIZE, live: NT_PRSTATUS, checkpointed: NT_PPC_TM_CGPR },
  { field: 'fpstate', table: FP_REGS, size: FP_REGS_SIZE, live: NT_PRFPREG, checkpointed: NT_PPC_TM_CFPR },
  { field: 'vrstate', table: VMX_REGS, size: VMX_REGS_SIZE, live: NT_PPC_VMX, checkpointed: NT_PPC_TM_CVMX },
  { field: 'vsxstate', table: VSX_REGS, size: VSX_REGS_SIZE, live: NT_PPC_VSX, checkpointed: NT_PPC_TM_CVSX },
];
