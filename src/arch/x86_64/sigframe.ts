// The x86_64 rt_sigframe that rt_sigreturn turns back into a thread's
// registers, FP/vector state, signal mask and alternate stack
// (arch/x86/kernel/signal_64.c, fpu/signal.c). The register placement comes
// from GP_REGS' sigcontext column and the FP area from the xsave tables.

import type { AltStack, Sigframe, SigframeOptions, ThreadInfo } from '../types.js';
import type { ImageRecord, RegField } from '../regtable.js';
import { encodeTable, writeField } from './byte-order.js';
import { FP_XSTATE_MAGIC2, GP_REGS, REGS_MODE } from './regs.js';
import { fpregsToBuffer, type XsaveLayout } from './xsave.js';

/** struct rt_sigframe { char *pretcode; struct ucontext uc; struct siginfo info; } and what is inside. */
export const RT_SIGFRAME = {
  pretcode: 0,
  uc: 8,
  size: 8 + 304 + 128,
} as const;
/** struct ucontext (uapi asm-generic/ucontext.h with x86's sigcontext_64), offsets from the ucontext. */
export const UCONTEXT = {
  uc_flags: 0,
  uc_link: 8,
  uc_stack: 16, // stack_t { void *ss_sp; int ss_flags; size_t ss_size; } = 24 bytes
  uc_mcontext: 40, // struct sigcontext_64, 256 bytes
  uc_sigmask: 296,
  size: 304,
} as const;
export const SIGINFO_OFFSET = RT_SIGFRAME.uc + UCONTEXT.size;
export const SIGCONTEXT = { size: 256, fpstate: 184 } as const;
/** The kernel's XRSTOR needs the FP area 64-byte aligned. */
export const FPSTATE_ALIGN = 64;

export const UC_FP_XSTATE = 1n;
export const UC_SIGCONTEXT_SS = 2n;
export const UC_STRICT_RESTORE_SS = 4n;
export const SS_DISABLE = 2;

/** The frame's own fields, as a table like the register ones. */
const FRAME_FIELDS: readonly RegField[] = [
  { name: 'uc_flags', offset: RT_SIGFRAME.uc + UCONTEXT.uc_flags, image: 'u64' },
  { name: 'uc_link', offset: RT_SIGFRAME.uc + UCONTEXT.uc_link, image: 'u64' },
  { name: 'ss_sp', offset: RT_SIGFRAME.uc + UCONTEXT.uc_stack, image: 'u64' },
  { name: 'ss_flags', offset: RT_SIGFRAME.uc + UCONTEXT.uc_stack + 8, image: 'u32' },
  { name: 'ss_size', offset: RT_SIGFRAME.uc + UCONTEXT.uc_stack + 16, image: 'u64' },
  { name: 'fpstate', offset: RT_SIGFRAME.uc + UCONTEXT.uc_mcontext + SIGCONTEXT.fpstate, image: 'u64' },
  { name: 'uc_sigmask', offset: RT_SIGFRAME.uc + UCONTEXT.uc_sigmask, image: 'u64' },
];

/** GP_REGS' sigcontext column as a table over the frame. */
export const SIGCONTEXT_REGS: readonly RegField[] = GP_REGS.flatMap((r) => r.sigcontext
  ? [{ name: r.name, offset: RT_SIGFRAME.uc + UCONTEXT.uc_mcontext + r.sigcontext.offset, image: 'u64' as const,
      raw: r.sigcontext.raw }]
  : []);

/** Registers rt_sigreturn leaves alone on x86_64 (fs/gs selectors are in sigcontext but ignored). */
export const NOT_RESTORED_BY_SIGRETURN: readonly string[] = GP_REGS
  .filter((r) => !r.sigcontext || r.name === 'fs' || r.name === 'gs').map((r) => r.name);

const alignUp = (v: bigint, a: bigint): bigint => (v + a - 1n) & ~(a - 1n);

/**
 * A thread's frame is built twice (for its length, then in its place: restore's preflight and
 * resume, a dump's call ending), and its FP area, the same wherever the frame goes, is most of
 * the work (a few KiB of xsave state per thread): encoded once per fpregs record (decoded image
 * state, never changed after) and layout.
 */
const fpAreas = new WeakMap<ImageRecord, { layout: XsaveLayout | undefined; bytes: Buffer }>();

/** The frame's FP area for `fp`: fxsave/xsave bytes, and the xsave layout's trailing magic. */
function fpArea(fp: ImageRecord, layout: XsaveLayout | undefined): Buffer {
  const hit = fpAreas.get(fp);
  if (hit !== undefined && hit.layout === layout) return hit.bytes;
  const bytes = Buffer.alloc(layout === undefined ? 512 : layout.size + 4);
  fpregsToBuffer(fp, layout, bytes, 0, 'sigframe');
  if (layout !== undefined) writeField(bytes, { name: 'magic2', offset: layout.size, image: 'u32' }, FP_XSTATE_MAGIC2);
  fpAreas.set(fp, { layout, bytes });
  return bytes;
}

export function buildSigframe(ti: ThreadInfo, opts: SigframeOptions, layout: XsaveLayout | undefined): Sigframe {
  const gp = ti.gpregs as ImageRecord | undefined;
  if (gp === undefined) throw new Error('thread_info has no gpregs: the image is damaged');
  if (gp.mode === REGS_MODE.COMPAT) {
    throw new Error('the image holds a 32-bit (ia32) thread; cryo cannot restore ia32 threads yet');
  }
  const frameAddress = opts.addressOfFrame;
  const fpAddress = alignUp(frameAddress + BigInt(RT_SIGFRAME.size), BigInt(FPSTATE_ALIGN));
  const fpOffset = Number(fpAddress - frameAddress);
  const fp = ti.fpregs as ImageRecord | undefined;
  const fpSize = fp === undefined ? 0 : layout === undefined ? 512 : layout.size + 4;
  const frame = Buffer.alloc(fpOffset + fpSize);

  encodeTable(SIGCONTEXT_REGS, gp, frame, 0, 'gpregs');
  const alt: AltStack = opts.altstack ?? { sp: 0n, flags: SS_DISABLE, size: 0n };
  const xstate = fp !== undefined && layout !== undefined;
  encodeTable(FRAME_FIELDS, {
    uc_flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS | (xstate ? UC_FP_XSTATE : 0n),
    uc_link: 0n,
    ss_sp: alt.sp,
    ss_flags: alt.flags,
    ss_size: alt.size,
    // No fpstate pointer: the kernel puts the FPU in its init state.
    fpstate: fp === undefined ? 0n : fpAddress,
    uc_sigmask: opts.sigmask,
  }, frame);

  if (fp !== undefined) fpArea(fp, layout).copy(frame, fpOffset);
  // The handler's `ret` popped pretcode: rt_sigreturn finds the frame at sp - 8.
  return { frame, frameAddress, sp: frameAddress + 8n };
}
