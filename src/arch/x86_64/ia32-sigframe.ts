// The ia32 rt_sigframe that the compat rt_sigreturn (int 0x80, eax 173) turns back into a 32-bit
// thread's registers, FP/SSE state, mask and alternate stack (arch/x86/kernel/signal_32.c,
// fpu/signal.c). The FP area of an ia32 frame is the old i387 fsave header followed by the same
// fxsave/xsave area a 64-bit frame has: the kernel folds the header's x87 environment and
// registers back over the fxsave ones, so both must say the same.

import type { AltStack, Sigframe, SigframeOptions, ThreadInfo } from '../types.js';
import type { ImageRecord, RegField } from '../regtable.js';
import { encodeTable, writeField } from './byte-order.js';
import { FP_XSTATE_MAGIC2, REGS_MODE } from './regs.js';
import { fpregsToBuffer, type XsaveLayout } from './xsave.js';
import { SS_DISABLE, UC_FP_XSTATE } from './sigframe.js';

/** struct rt_sigframe_ia32 { u32 pretcode; int sig; u32 pinfo; u32 puc; compat_siginfo_t info; struct ucontext_ia32 uc; char retcode[8]; }. */
export const RT_SIGFRAME_IA32 = { pretcode: 0, info: 16, uc: 144, size: 268 } as const;
/** struct ucontext_ia32: uc_flags, uc_link, compat_stack_t uc_stack (12 bytes), struct sigcontext_32 (88), uc_sigmask. */
export const UCONTEXT_IA32 = { uc_flags: 0, uc_link: 4, uc_stack: 8, uc_mcontext: 20, uc_sigmask: 108 } as const;
/** struct fregs_state: the i387 environment and registers before the fxsave area (112 bytes). */
export const FREGS_SIZE = 112;

const MC = RT_SIGFRAME_IA32.uc + UCONTEXT_IA32.uc_mcontext;
const sc = (name: string, offset: number, raw: 'u16' | 'u32' = 'u32'): RegField => ({ name, offset: MC + offset, image: 'u64', raw });

/** struct sigcontext_32, the registers the compat rt_sigreturn loads (segment selectors included). */
export const SIGCONTEXT_32: readonly RegField[] = [
  sc('gs', 0, 'u16'), sc('fs', 4, 'u16'), sc('es', 8, 'u16'), sc('ds', 12, 'u16'),
  sc('di', 16), sc('si', 20), sc('bp', 24), sc('sp', 28), sc('bx', 32), sc('dx', 36), sc('cx', 40), sc('ax', 44),
  sc('ip', 56), sc('cs', 60, 'u16'), sc('flags', 64), sc('ss', 72, 'u16'),
];

const FRAME_FIELDS: readonly RegField[] = [
  { name: 'uc_flags', offset: RT_SIGFRAME_IA32.uc + UCONTEXT_IA32.uc_flags, image: 'u32' },
  { name: 'ss_sp', offset: RT_SIGFRAME_IA32.uc + UCONTEXT_IA32.uc_stack, image: 'u64', raw: 'u32' },
  { name: 'ss_flags', offset: RT_SIGFRAME_IA32.uc + UCONTEXT_IA32.uc_stack + 4, image: 'u32' },
  { name: 'ss_size', offset: RT_SIGFRAME_IA32.uc + UCONTEXT_IA32.uc_stack + 8, image: 'u64', raw: 'u32' },
  { name: 'fpstate', offset: MC + 76, image: 'u64', raw: 'u32' },
  { name: 'uc_sigmask', offset: RT_SIGFRAME_IA32.uc + UCONTEXT_IA32.uc_sigmask, image: 'u64' },
];

/** The ia32 frame restores every register the image holds: nothing is left for ptrace. */
export const NOT_RESTORED_BY_IA32_SIGRETURN: readonly string[] = [];

const alignUp = (v: bigint, a: bigint): bigint => (v + a - 1n) & ~(a - 1n);
const num = (v: unknown): number => Number(v ?? 0);

/**
 * The kernel's i387 tag word from fxsave's abridged one: an empty register is 11, a used one
 * "valid" 00 (the kernel only asks which are empty when it folds the header back).
 */
function i387Tag(abridged: number): number {
  let twd = 0;
  for (let i = 0; i < 8; i++) if (!(abridged & (1 << i))) twd |= 3 << (2 * i);
  return twd;
}

/** struct fregs_state from the image's fxsave fields (what convert_from_fxsr gives a 32-bit frame). */
function fregsFromFxsave(fp: ImageRecord, cs: number, ds: number): Buffer {
  const b = Buffer.alloc(FREGS_SIZE);
  b.writeUInt32LE((num(fp.cwd) | 0xffff0000) >>> 0, 0);
  b.writeUInt32LE((num(fp.swd) | 0xffff0000) >>> 0, 4);
  b.writeUInt32LE((i387Tag(num(fp.twd)) | 0xffff0000) >>> 0, 8);
  b.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(fp.rip as bigint ?? 0n))), 12);
  b.writeUInt32LE(((num(fp.fop) << 16) | (cs & 0xffff)) >>> 0, 16); // fcs: the kernel takes fop from its top half
  b.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(fp.rdp as bigint ?? 0n))), 20);
  b.writeUInt32LE((ds | 0xffff0000) >>> 0, 24);
  // st(0..7): 10 bytes each here, 16-byte slots (4 u32) in fxsave.
  const st = (fp.st_space as number[] | undefined) ?? [];
  const slot = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) {
    for (let k = 0; k < 4; k++) slot.writeUInt32LE((st[i * 4 + k] ?? 0) >>> 0, k * 4);
    slot.copy(b, 28 + i * 10, 0, 10);
  }
  return b;
}

export function buildIa32Sigframe(ti: ThreadInfo, opts: SigframeOptions, layout: XsaveLayout | undefined): Sigframe {
  const gp = ti.gpregs as ImageRecord | undefined;
  if (gp === undefined) throw new Error('thread_info has no gpregs: the image is damaged');
  if (gp.mode !== REGS_MODE.COMPAT) throw new Error('internal: an ia32 signal frame asked for a 64-bit thread');
  const frameAddress = opts.addressOfFrame;
  const fp = ti.fpregs as ImageRecord | undefined;
  // fregs_state right below the 64-byte aligned fxsave/xsave area, as the kernel lays it out.
  const fxAddress = alignUp(frameAddress + BigInt(RT_SIGFRAME_IA32.size + FREGS_SIZE), 64n);
  const fxOffset = Number(fxAddress - frameAddress);
  const fpSize = fp === undefined ? 0 : layout === undefined ? 512 : layout.size + 4;
  const frame = Buffer.alloc(fp === undefined ? RT_SIGFRAME_IA32.size : fxOffset + fpSize);
  if (fxAddress + BigInt(fpSize) > 1n << 32n) throw new Error(`an ia32 signal frame at 0x${frameAddress.toString(16)} does not fit below 4 GiB`);

  encodeTable(SIGCONTEXT_32, gp, frame, 0, 'gpregs');
  const alt: AltStack = opts.altstack ?? { sp: 0n, flags: SS_DISABLE, size: 0n };
  const xstate = fp !== undefined && layout !== undefined;
  encodeTable(FRAME_FIELDS, {
    uc_flags: xstate ? Number(UC_FP_XSTATE) : 0,
    ss_sp: alt.sp,
    ss_flags: alt.flags,
    ss_size: alt.size,
    fpstate: fp === undefined ? 0n : fxAddress - BigInt(FREGS_SIZE),
    uc_sigmask: opts.sigmask,
  }, frame);
  if (fp !== undefined) {
    fregsFromFxsave(fp, num(gp.cs), num(gp.ds)).copy(frame, fxOffset - FREGS_SIZE);
    fpregsToBuffer(fp, layout, frame, fxOffset, 'sigframe');
    if (layout !== undefined) writeField(frame, { name: 'magic2', offset: fxOffset + layout.size, image: 'u32' }, FP_XSTATE_MAGIC2);
  }
  // rt_sigreturn finds the frame at sp - 4 (the handler's ret popped pretcode).
  return { frame, frameAddress, sp: frameAddress + 4n };
}
