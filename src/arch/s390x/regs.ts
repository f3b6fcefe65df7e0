// THE register description of s390x: one table per ptrace regset, saying
// where each value lives in the regset, where (if anywhere) rt_sigreturn
// takes it from the signal frame, and which field of CRIU's thread_info_s390
// holds it. Dump, restore by ptrace and restore by signal frame are all
// derived from these tables (DESIGN rule 1); nothing else in cryo spells out
// an s390 register offset.
//
// Sources of the facts: the kernel's uapi asm/ptrace.h (s390_regs,
// s390_fp_regs), asm/sigcontext.h (_sigregs, _sigregs_ext), asm/ucontext.h,
// asm/guarded_storage.h, asm/runtime_instr.h, include/uapi/linux/elf.h (NT_*),
// arch/s390/kernel/signal.c (struct rt_sigframe), CRIU 4.2's
// images/core-s390.proto (names). test/cross/s390x-layout.test.ts proves the
// offsets and the byte order against C compiled for s390x.

import { regtableFor, type RegField } from '../regtable.js';

/** Every s390x kernel buffer is big-endian. */
export const BYTE_ORDER = 'BE' as const;
export const REGS_CODEC = regtableFor(BYTE_ORDER);

export const NT_PRSTATUS = 1;
export const NT_PRFPREG = 2;
export const NT_S390_LAST_BREAK = 0x306;
export const NT_S390_SYSTEM_CALL = 0x307;
export const NT_S390_VXRS_LOW = 0x309;
export const NT_S390_VXRS_HIGH = 0x30a;
export const NT_S390_GS_CB = 0x30b;
export const NT_S390_GS_BC = 0x30c;
export const NT_S390_RI_CB = 0x30d;

/** PSW mask bits (asm/ptrace.h, 64-bit). */
export const PSW_MASK_RI = 0x0000008000000000n;
export const PSW_MASK_EA = 0x0000000100000000n;
export const PSW_MASK_BA = 0x0000000080000000n;

/** One row: a field of the regset, and its offset in the rt_sigframe when rt_sigreturn restores it. */
export interface S390Reg extends RegField {
  readonly frame?: number;
}

/** Offsets in struct rt_sigframe (signal.c): 160-byte save area, svc insn, siginfo, ucontext_extended. */
export const RT_SIGFRAME = {
  svcInsn: 160,
  info: 168,
  uc: 296,
  size: 1320,
} as const;
/** struct ucontext_extended inside the frame. */
export const UCONTEXT = {
  flags: 0,
  link: 8,
  stack: 16,
  mcontext: 40,
  sigmask: 384,
  mcontextExt: 512,
} as const;
const MC = RT_SIGFRAME.uc + UCONTEXT.mcontext; // _sigregs
const MC_EXT = RT_SIGFRAME.uc + UCONTEXT.mcontextExt; // _sigregs_ext

/** How thread_info_s390 is made of regsets: each regset's rows go to one image message. */
export interface S390Regset {
  readonly nt: number;
  readonly name: string;
  readonly size: number;
  readonly required: boolean;
  /** The thread_info_s390 field holding the rows (several regsets may share one: gpregs). */
  readonly field: string;
  readonly rows: readonly S390Reg[];
  /** The hardware facility the regset belongs to, for errors (absent: every s390x has it). */
  readonly facility?: string;
  /** rt_sigreturn does not carry it: restore sets it by ptrace before the frame is used. */
  readonly byPtrace?: boolean;
}

/**
 * s390_regs (NT_PRSTATUS, 216 bytes) = user_s390_regs_entry; system_call comes from its own regset.
 * The frame column is _sigregs (psw, gprs, acrs); orig_gpr2 has no place there.
 */
export const PRSTATUS_ROWS: readonly S390Reg[] = [
  { name: 'psw_mask', offset: 0, image: 'u64', frame: MC + 0 },
  { name: 'psw_addr', offset: 8, image: 'u64', frame: MC + 8 },
  { name: 'gprs', offset: 16, image: 'u64', count: 16, frame: MC + 16 },
  { name: 'acrs', offset: 144, image: 'u32', count: 16, frame: MC + 144 },
  { name: 'orig_gpr2', offset: 208, image: 'u64' },
];
export const PRSTATUS_SIZE = 216;

export const REGSETS: readonly S390Regset[] = [
  { nt: NT_PRSTATUS, name: 'NT_PRSTATUS', size: PRSTATUS_SIZE, required: true, field: 'gpregs', rows: PRSTATUS_ROWS },
  // The interrupted call's int_code (ilc << 16 | number), 0 outside a syscall; restore never sets it
  // (rt_sigreturn ends the syscall state), cryo's injector zeroes it while it runs calls.
  { nt: NT_S390_SYSTEM_CALL, name: 'NT_S390_SYSTEM_CALL', size: 4, required: true, field: 'gpregs',
    rows: [{ name: 'system_call', offset: 0, image: 'u32' }] },
  // s390_fp_regs: fpc, pad, 16 FPRs (the leftmost halves of vector registers 0..15).
  { nt: NT_PRFPREG, name: 'NT_PRFPREG', size: 136, required: true, field: 'fpregs', rows: [
    { name: 'fpc', offset: 0, image: 'u32', frame: MC + 208 },
    { name: 'fprs', offset: 8, image: 'u64', count: 16, frame: MC + 216 },
  ] },
  // The rightmost halves of V0..V15, then V16..V31 whole (two u64 each, leftmost first).
  { nt: NT_S390_VXRS_LOW, name: 'NT_S390_VXRS_LOW', size: 128, required: false, field: 'vxrs_low', facility: 'the vector facility',
    rows: [{ name: 'regs', offset: 0, image: 'u64', count: 16, frame: MC_EXT + 0 }] },
  { nt: NT_S390_VXRS_HIGH, name: 'NT_S390_VXRS_HIGH', size: 256, required: false, field: 'vxrs_high', facility: 'the vector facility',
    rows: [{ name: 'regs', offset: 0, image: 'u64', count: 32, frame: MC_EXT + 128 }] },
  // struct gs_cb (4 x u64); the kernel answers ENODATA while the thread has none.
  { nt: NT_S390_GS_CB, name: 'NT_S390_GS_CB', size: 32, required: false, field: 'gs_cb', facility: 'guarded storage', byPtrace: true,
    rows: [{ name: 'regs', offset: 0, image: 'u64', count: 4 }] },
  { nt: NT_S390_GS_BC, name: 'NT_S390_GS_BC', size: 32, required: false, field: 'gs_bc', facility: 'guarded storage', byPtrace: true,
    rows: [{ name: 'regs', offset: 0, image: 'u64', count: 4 }] },
  // struct runtime_instr_cb (64 bytes); ri_on is the PSW's RI bit, not part of the regset.
  { nt: NT_S390_RI_CB, name: 'NT_S390_RI_CB', size: 64, required: false, field: 'ri_cb', facility: 'runtime instrumentation', byPtrace: true,
    rows: [{ name: 'regs', offset: 0, image: 'u64', count: 8 }] },
];

/**
 * State the kernel exposes that neither CRIU's image nor a restore can carry, and why that is fine:
 * NT_S390_LAST_BREAK (the breaking-event address: read-only, the kernel ignores writes), NT_S390_TDB
 * (transaction diagnostic block: read-only, only valid inside an aborted transaction), the PER
 * (single-step/trace) registers (a debugger's state, gone when cryo detaches), the
 * ieee_instruction_pointer of the 2009 patch (no longer kept by the kernel).
 */
export const NOT_SAVED = ['NT_S390_LAST_BREAK', 'NT_S390_TDB', 'PER registers'] as const;

/** All rows that rt_sigreturn restores, as one table over the frame per image field. */
export function frameRows(field: string): RegField[] {
  return REGSETS.filter((r) => r.field === field).flatMap((r) => r.rows)
    .flatMap((r) => (r.frame === undefined ? [] : [{ ...r, offset: r.frame }]));
}

/** Frame fields beside the registers. */
export const FRAME_FIELDS: readonly RegField[] = [
  { name: 'svc_insn', offset: RT_SIGFRAME.svcInsn, image: 'u32', raw: 'u16' },
  { name: 'uc_flags', offset: RT_SIGFRAME.uc + UCONTEXT.flags, image: 'u64' },
  { name: 'uc_link', offset: RT_SIGFRAME.uc + UCONTEXT.link, image: 'u64' },
  { name: 'ss_sp', offset: RT_SIGFRAME.uc + UCONTEXT.stack, image: 'u64' },
  { name: 'ss_flags', offset: RT_SIGFRAME.uc + UCONTEXT.stack + 8, image: 'u32' },
  { name: 'ss_size', offset: RT_SIGFRAME.uc + UCONTEXT.stack + 16, image: 'u64' },
  { name: 'uc_sigmask', offset: RT_SIGFRAME.uc + UCONTEXT.sigmask, image: 'u64' },
];
/** uc_flags bit: uc_mcontext_ext holds the vector registers. */
export const UC_VXRS = 2n;
