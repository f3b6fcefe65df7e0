// The ppc64 signal frame that rt_sigreturn turns back into a thread's
// registers, FP/VMX/VSX state, signal mask and alternate stack
// (arch/powerpc/kernel/signal_64.c, uapi asm/ucontext.h and asm/sigcontext.h).
// rt_sigreturn finds the ucontext at r1. A thread in a suspended transaction
// gets a second ucontext (the kernel's uc_transact) that uc_link points to:
// the first holds the checkpointed state, the second the transactional one.

import type { AltStack, Sigframe, SigframeOptions, ThreadInfo } from '../types.js';
import type { ImageRecord, RegField } from '../regtable.js';
import { encodeTable, writeField } from './byte-order.js';
import { FP_REGS, GP_REGS, MSR, PT_SOFTE_OFFSET, VMX_REGS, VSX_REGS } from './regs.js';

/** struct ucontext (64-bit): offsets of its fields. */
export const UCONTEXT = {
  uc_flags: 0,
  uc_link: 8,
  uc_stack: 16, // stack_t { void *ss_sp; int ss_flags; size_t ss_size; } = 24 bytes
  uc_sigmask: 40, // sigset_t: one 64-bit word, then __unused[15]
  uc_mcontext: 168,
  size: 1696,
} as const;

/** struct sigcontext (uc_mcontext), offsets from its start. */
export const SIGCONTEXT = {
  signal: 32,
  handler: 40,
  oldmask: 48,
  regs: 56,
  gp_regs: 64, // elf_gregset_t, 48 longs in PT_* order
  fp_regs: 448, // elf_fpregset_t, 33 doubles
  v_regs: 712, // pointer to the quadword-aligned VMX area inside vmx_reserve
  vmx_reserve: 720, // 101 longs: 34 quadwords of VMX, then 32 VSX doublewords, room to align
  size: 1528,
} as const;

/** Quadwords of VMX state at v_regs (ELF_NVRREG); the VSX doublewords follow them. */
export const VMX_QUADWORDS = 34;
export const SS_DISABLE = 2;

/** The frame's own fields, as a table like the register ones (offsets from the ucontext). */
const UC_FIELDS: readonly RegField[] = [
  { name: 'uc_flags', offset: UCONTEXT.uc_flags, image: 'u64' },
  { name: 'uc_link', offset: UCONTEXT.uc_link, image: 'u64' },
  { name: 'ss_sp', offset: UCONTEXT.uc_stack, image: 'u64' },
  { name: 'ss_flags', offset: UCONTEXT.uc_stack + 8, image: 'u32' },
  { name: 'ss_size', offset: UCONTEXT.uc_stack + 16, image: 'u64' },
  { name: 'uc_sigmask', offset: UCONTEXT.uc_sigmask, image: 'u64' },
];
const MC = UCONTEXT.uc_mcontext;
const SC_FIELDS: readonly RegField[] = [
  { name: 'oldmask', offset: MC + SIGCONTEXT.oldmask, image: 'u64' },
  { name: 'regs', offset: MC + SIGCONTEXT.regs, image: 'u64' },
  { name: 'v_regs', offset: MC + SIGCONTEXT.v_regs, image: 'u64' },
  { name: 'softe', offset: MC + SIGCONTEXT.gp_regs + PT_SOFTE_OFFSET, image: 'u64' },
];

/** GP_REGS over sigcontext.gp_regs (the same PT_* indices). */
export const SIGCONTEXT_GP = GP_REGS.map((r) => ({ ...r, offset: MC + SIGCONTEXT.gp_regs + r.offset }));
const SIGCONTEXT_FP = FP_REGS.map((r) => ({ ...r, offset: MC + SIGCONTEXT.fp_regs + r.offset }));

/** Registers rt_sigreturn does not load: ptrace restores what the kernel lets it (msr: only SE/BE). */
export const NOT_RESTORED_BY_SIGRETURN: readonly string[] = GP_REGS.filter((r) => !r.bySigreturn).map((r) => r.name);

/** Offset of the VMX area (v_regs) from a ucontext at `ucAddress`: vmx_reserve rounded up to 16. */
export function vRegsOffset(ucAddress: bigint): number {
  const reserve = ucAddress + BigInt(MC + SIGCONTEXT.vmx_reserve);
  return MC + SIGCONTEXT.vmx_reserve + Number(((reserve + 15n) & ~15n) - reserve);
}

/** One state (live or checkpointed) as CRIU's image holds it. */
interface State {
  gpregs: ImageRecord;
  fpstate?: ImageRecord;
  vrstate?: ImageRecord;
  vsxstate?: ImageRecord;
}

const big = (v: unknown): bigint => BigInt(v as bigint | number);

/** The MSR the frame must carry so that rt_sigreturn loads (and marks used) the vector state it holds. */
export function frameMsr(msr: bigint, hasVmx: boolean, hasVsx: boolean): bigint {
  return msr | (hasVmx ? MSR.VEC : 0n) | (hasVsx ? MSR.VSX : 0n);
}

/** Writes one state into the ucontext at `uc` (offset in `frame`, address `ucAddress`). */
function writeMcontext(frame: Buffer, uc: number, ucAddress: bigint, s: State, msr: bigint, what: string): void {
  encodeTable(SIGCONTEXT_GP, { ...s.gpregs, msr }, frame, uc, `${what}.gpregs`);
  if (s.fpstate) encodeTable(SIGCONTEXT_FP, s.fpstate, frame, uc, `${what}.fpstate`);
  const vOff = vRegsOffset(ucAddress);
  // The kernel always points v_regs at the area (vrsave is read from it even without MSR_VEC).
  encodeTable(SC_FIELDS, {
    oldmask: 0n,
    regs: ucAddress + BigInt(MC + SIGCONTEXT.gp_regs),
    v_regs: ucAddress + BigInt(vOff),
    softe: 1n,
  }, frame, uc);
  if (s.vrstate) encodeTable(VMX_REGS, s.vrstate, frame, uc + vOff, `${what}.vrstate`);
  if (s.vsxstate) encodeTable(VSX_REGS, s.vsxstate, frame, uc + vOff + VMX_QUADWORDS * 16, `${what}.vsxstate`);
}

function stateOf(r: ImageRecord | undefined, what: string): State {
  const gpregs = r?.gpregs as ImageRecord | undefined;
  if (gpregs === undefined) throw new Error(`${what} has no gpregs: the image is damaged`);
  return {
    gpregs,
    fpstate: r!.fpstate as ImageRecord | undefined,
    vrstate: r!.vrstate as ImageRecord | undefined,
    vsxstate: r!.vsxstate as ImageRecord | undefined,
  };
}

/** Bytes of the frame: one ucontext, or two for a thread in a transaction. */
export function frameSize(ti: ThreadInfo): number {
  return ti.tmstate === undefined ? UCONTEXT.size : 2 * UCONTEXT.size;
}

export function buildSigframe(ti: ThreadInfo, opts: SigframeOptions): Sigframe {
  const frameAddress = opts.addressOfFrame;
  if ((frameAddress & 15n) !== 0n) throw new Error(`a ppc64 signal frame must be 16-byte aligned, not at 0x${frameAddress.toString(16)}`);
  const top = stateOf(ti, 'thread_info');
  const tm = ti.tmstate === undefined ? undefined : stateOf(ti.tmstate as ImageRecord, 'thread_info.tmstate');
  const frame = Buffer.alloc(frameSize(ti));
  const alt: AltStack = opts.altstack ?? { sp: 0n, flags: SS_DISABLE, size: 0n };
  const transactAddress = frameAddress + BigInt(UCONTEXT.size);
  encodeTable(UC_FIELDS, {
    uc_flags: 0n,
    uc_link: tm ? transactAddress : 0n,
    ss_sp: alt.sp,
    ss_flags: alt.flags,
    ss_size: alt.size,
    uc_sigmask: opts.sigmask,
  }, frame, 0);

  if (tm === undefined) {
    writeMcontext(frame, 0, frameAddress, top, frameMsr(big(top.gpregs.msr), !!top.vrstate, !!top.vsxstate), 'thread_info');
  } else {
    // As the kernel delivers it: the checkpointed state first, the transactional one in uc_transact,
    // both with the live MSR (its TS bits tell rt_sigreturn to recheckpoint).
    const msr = frameMsr(big(tm.gpregs.msr), !!(top.vrstate || tm.vrstate), !!(top.vsxstate || tm.vsxstate));
    writeMcontext(frame, 0, frameAddress, top, msr, 'thread_info');
    writeMcontext(frame, UCONTEXT.size, transactAddress, tm, msr, 'thread_info.tmstate');
  }
  writeField(frame, { name: 'signal', offset: MC + SIGCONTEXT.signal, image: 'u32' }, 0);
  // rt_sigreturn reads the ucontext at r1.
  return { frame, frameAddress, sp: frameAddress };
}
