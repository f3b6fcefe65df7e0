// The aarch64 signal frame that rt_sigreturn turns back into a thread's registers, FP/SIMD state,
// signal mask and alternate stack (arch/arm64/kernel/signal.c, uapi asm/sigcontext.h): struct
// rt_sigframe { siginfo; ucontext } at sp, the ucontext's sigcontext ending in __reserved[4096],
// a list of records { magic, size } of which rt_sigreturn requires fpsimd_context and stops at
// a zero terminator; above the frame the frame record { x29, x30 } the kernel leaves for unwinders.

import type { AltStack, Sigframe, SigframeOptions, ThreadInfo } from '../types.js';
import type { ImageRecord, RegField } from '../regtable.js';
import { encodeTable } from './byte-order.js';
import { FP_REGS, GP_REGS } from './regs.js';
import { roundUp, sveRegs, sveRegsSize } from './sve.js';
import { smeRecords, smeState } from './sme.js';

export const SIGINFO_SIZE = 128;

/** struct ucontext (arch/arm64/include/asm/ucontext.h): offsets from its start. */
export const UCONTEXT = {
  uc_flags: 0,
  uc_link: 8,
  uc_stack: 16, // stack_t { void *ss_sp; int ss_flags; size_t ss_size; } = 24 bytes
  uc_sigmask: 40, // sigset_t, then 120 unused bytes (glibc's 1024-bit set)
  uc_mcontext: 176, // struct sigcontext is 16-byte aligned
} as const;

/** struct sigcontext: offsets from its start. */
export const SIGCONTEXT = {
  fault_address: 0,
  regs: 8, // regs[31], sp, pc, pstate: user_pt_regs' layout
  reserved: 288, // __u8 __reserved[4096], 16-byte aligned
  reservedSize: 4096,
} as const;

export const FPSIMD_MAGIC = 0x46508001;
/** struct fpsimd_context: head { magic, size }, fpsr, fpcr, vregs[32] at 16. */
export const FPSIMD_CONTEXT_SIZE = 16 + 512;
/** Bytes the kernel reserves for the closing { 0, 0 } record. */
export const TERMINATOR_SIZE = 16;
export const SS_DISABLE = 2;

export const SVE_MAGIC = 0x53564501;
/** struct sve_context: head { magic, size }, vl, flags (SVE_SIG_FLAG_SM: streaming mode), then the registers at 16. */
export const SVE_CONTEXT: readonly RegField[] = [
  { name: 'magic', offset: 0, image: 'u32' },
  { name: 'size', offset: 4, image: 'u32' },
  { name: 'vl', offset: 8, image: 'u32', raw: 'u16' },
  { name: 'flags', offset: 10, image: 'u32', raw: 'u16' },
];
export const SVE_SIG_REGS_OFFSET = 16;

export const EXTRA_MAGIC = 0x45585401;
/** struct extra_context: head, datap (where the further records start), size (theirs, with their terminator). */
export const EXTRA_CONTEXT: readonly RegField[] = [
  { name: 'magic', offset: 0, image: 'u32' },
  { name: 'size', offset: 4, image: 'u32' },
  { name: 'datap', offset: 8, image: 'u64' },
  { name: 'data_size', offset: 16, image: 'u32' },
];
export const EXTRA_CONTEXT_SIZE = 32;
/** The sve_context record with registers at vector length `vl`, rounded to the records' 16 bytes. */
export const sveContextSize = (vl: number): number => roundUp(SVE_SIG_REGS_OFFSET + sveRegsSize(vl / 16), 16);
/** sve_context.flags: the registers are streaming SVE ones (SME streaming mode on). */
export const SVE_SIG_FLAG_SM = 1;

/** The sve_context record of live registers `regs` at vector length `vl`. */
function sveRecord(vl: number, flags: number, regs: Buffer, where: string): Buffer {
  const rec = Buffer.alloc(sveContextSize(vl));
  encodeTable(SVE_CONTEXT, { magic: SVE_MAGIC, size: rec.length, vl, flags }, rec, 0, where);
  regs.copy(rec, SVE_SIG_REGS_OFFSET);
  return rec;
}

/**
 * The records after fpsimd_context: the live SVE registers (streaming ones, flagged, when the thread
 * was in SME streaming mode: then the task's SVE registers are those), then SME's ZA and ZT0.
 */
function extraRecords(ti: ThreadInfo): Buffer[] {
  const sme = ti.sme === undefined ? undefined : smeState(ti.sme as ImageRecord, 'thread_info.sme');
  const out: Buffer[] = [];
  if (sme?.ssve !== undefined) out.push(sveRecord(sme.vl, SVE_SIG_FLAG_SM, sme.ssve, 'thread_info.sme'));
  else {
    const sve = ti.sve === undefined ? undefined : sveRegs(ti.sve as ImageRecord, 'thread_info.sve');
    if (sve !== undefined) out.push(sveRecord(sve.vl, 0, sve.regs, 'thread_info.sve'));
  }
  if (ti.sme !== undefined) out.push(...smeRecords(ti.sme as ImageRecord, 'thread_info.sme'));
  return out;
}

const UC = SIGINFO_SIZE;
const MC = UC + UCONTEXT.uc_mcontext;
const RESERVED = MC + SIGCONTEXT.reserved;
/** sizeof(struct rt_sigframe). */
export const RT_SIGFRAME_SIZE = RESERVED + SIGCONTEXT.reservedSize;
/** struct frame_record { fp, lr }, right above the rt_sigframe. */
export const FRAME_RECORD_SIZE = 16;
export const FRAME_SIZE = RT_SIGFRAME_SIZE + FRAME_RECORD_SIZE;

/** The frame's own fields, as a table like the register ones (offsets from the frame). */
const UC_FIELDS: readonly RegField[] = [
  { name: 'uc_flags', offset: UC + UCONTEXT.uc_flags, image: 'u64' },
  { name: 'uc_link', offset: UC + UCONTEXT.uc_link, image: 'u64' },
  { name: 'ss_sp', offset: UC + UCONTEXT.uc_stack, image: 'u64' },
  { name: 'ss_flags', offset: UC + UCONTEXT.uc_stack + 8, image: 'u32' },
  { name: 'ss_size', offset: UC + UCONTEXT.uc_stack + 16, image: 'u64' },
  { name: 'uc_sigmask', offset: UC + UCONTEXT.uc_sigmask, image: 'u64' },
  { name: 'fault_address', offset: MC + SIGCONTEXT.fault_address, image: 'u64' },
  { name: 'fpsimd_magic', offset: RESERVED, image: 'u32' },
  { name: 'fpsimd_size', offset: RESERVED + 4, image: 'u32' },
];
const FRAME_RECORD: readonly RegField[] = [{ name: 'fp', offset: 0, image: 'u64' }, { name: 'lr', offset: 8, image: 'u64' }];

/** GP_REGS over sigcontext.regs..pstate (user_pt_regs' layout). */
export const SIGCONTEXT_GP = GP_REGS.map((r) => ({ ...r, offset: MC + SIGCONTEXT.regs + r.offset }));
/** FP_REGS over fpsimd_context: fpsr and fpcr first, then the V registers. */
export const SIGCONTEXT_FP: readonly RegField[] = FP_REGS.map((r) => ({
  ...r,
  offset: RESERVED + ({ vregs: 16, fpsr: 8, fpcr: 12 } as Record<string, number>)[r.name]!,
}));

/** rt_sigreturn loads every GP and FP/SIMD register; tpidr_el0 (thread_info.tls) and the PAC keys only ptrace sets. */
export const NOT_RESTORED_BY_SIGRETURN: readonly string[] = ['tls', 'pac_keys'];

export function buildSigframe(ti: ThreadInfo, opts: SigframeOptions): Sigframe {
  const frameAddress = opts.addressOfFrame;
  if ((frameAddress & 15n) !== 0n) throw new Error(`an aarch64 signal frame must be 16-byte aligned, not at 0x${frameAddress.toString(16)}`);
  const gp = ti.gpregs as ImageRecord | undefined;
  const fp = ti.fpsimd as ImageRecord | undefined;
  if (gp === undefined) throw new Error('thread_info has no gpregs: the image is damaged');
  if (fp === undefined) throw new Error('thread_info has no fpsimd: the image is damaged (rt_sigreturn needs the FP/SIMD record)');
  const alt: AltStack = opts.altstack ?? { sp: 0n, flags: SS_DISABLE, size: 0n };
  // SVE and SME records follow fpsimd_context (the task's vector lengths are set by ptrace first);
  // the zeroed bytes after the last record are the { 0, 0 } terminator. When they do not fit
  // __reserved (SVE above vector length 96, ZA above 32), an extra_context there points at them,
  // right after its own terminator (the kernel requires that address), past __reserved's end.
  const records = extraRecords(ti);
  const size = records.reduce((n, r) => n + r.length, 0);
  let frame = Buffer.alloc(FRAME_SIZE);
  let recordAt = RT_SIGFRAME_SIZE;
  let at = RESERVED + FPSIMD_CONTEXT_SIZE;
  if (FPSIMD_CONTEXT_SIZE + size + TERMINATOR_SIZE > SIGCONTEXT.reservedSize) {
    const data = at + EXTRA_CONTEXT_SIZE + TERMINATOR_SIZE;
    const extraSize = size + TERMINATOR_SIZE;
    recordAt = data + extraSize;
    frame = Buffer.alloc(recordAt + FRAME_RECORD_SIZE);
    encodeTable(EXTRA_CONTEXT, { magic: EXTRA_MAGIC, size: EXTRA_CONTEXT_SIZE, datap: frameAddress + BigInt(data), data_size: extraSize }, frame, at, 'extra_context');
    at = data;
  }
  for (const r of records) {
    r.copy(frame, at);
    at += r.length;
  }
  const x = gp.regs as unknown[];
  encodeTable(UC_FIELDS, {
    uc_flags: 0n, uc_link: 0n,
    ss_sp: alt.sp, ss_flags: alt.flags, ss_size: alt.size,
    uc_sigmask: opts.sigmask,
    fault_address: 0n,
    fpsimd_magic: FPSIMD_MAGIC, fpsimd_size: FPSIMD_CONTEXT_SIZE,
  }, frame, 0);
  // The frame record { x29, x30 } above everything, for unwinders.
  encodeTable(FRAME_RECORD, { fp: x?.[29], lr: x?.[30] }, frame, recordAt);
  encodeTable(SIGCONTEXT_GP, gp, frame, 0, 'thread_info.gpregs');
  encodeTable(SIGCONTEXT_FP, fp, frame, 0, 'thread_info.fpsimd');
  // rt_sigreturn reads the rt_sigframe at sp.
  return { frame, frameAddress, sp: frameAddress };
}
