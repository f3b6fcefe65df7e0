// The s390x rt_sigframe cryo builds for rt_sigreturn (arch/s390/kernel/signal.c): the 160-byte
// save area, the svc, siginfo, and struct ucontext_extended whose _sigregs and _sigregs_ext come
// from the regset tables' frame column (regs.ts). Guarded storage and runtime instrumentation have
// no place in it: restore sets them by ptrace before the frame is used (REGSETS' byPtrace).

import type { AltStack, Sigframe, SigframeOptions, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import { FRAME_FIELDS, frameRows, REGS_CODEC, RT_SIGFRAME, UC_VXRS, PSW_MASK_RI } from './regs.js';
import { NR_RT_SIGRETURN, SVC_INSN } from './syscall-abi.js';

const { encodeTable } = REGS_CODEC;
const SS_DISABLE = 2;

const GP_FRAME = frameRows('gpregs');
const FP_FRAME = frameRows('fpregs');
const VXRS_LOW_FRAME = frameRows('vxrs_low');
const VXRS_HIGH_FRAME = frameRows('vxrs_high');

/** The PSW mask the frame carries: the RI bit only when the image says instrumentation was on. */
export function framePswMask(ti: ThreadInfo): bigint {
  const gp = ti.gpregs as ImageRecord;
  const ri = ti.ri_cb as ImageRecord | undefined;
  const mask = BigInt(gp.psw_mask as bigint) & ~PSW_MASK_RI;
  return ri !== undefined && Number(ri.ri_on) !== 0 ? mask | PSW_MASK_RI : mask;
}

export function buildSigframe(ti: ThreadInfo, opts: SigframeOptions): Sigframe {
  const gp = ti.gpregs as ImageRecord | undefined;
  const fp = ti.fpregs as ImageRecord | undefined;
  if (gp === undefined) throw new Error('thread_info_s390 has no gpregs: the image is damaged');
  if (fp === undefined) throw new Error('thread_info_s390 has no fpregs: the image is damaged');
  const frame = Buffer.alloc(RT_SIGFRAME.size);
  const gprs = gp.gprs as bigint[];
  // The back chain: the interrupted code's stack pointer, as the kernel stores it.
  frame.writeBigUInt64BE(BigInt(gprs?.[15] ?? 0n), 0);
  encodeTable(GP_FRAME, { ...gp, psw_mask: framePswMask(ti) }, frame, 0, 'gpregs');
  encodeTable(FP_FRAME, fp, frame, 0, 'fpregs');
  const low = ti.vxrs_low as ImageRecord | undefined;
  const high = ti.vxrs_high as ImageRecord | undefined;
  if ((low === undefined) !== (high === undefined)) {
    throw new Error(`thread_info_s390 has ${low ? 'vxrs_low' : 'vxrs_high'} without ${low ? 'vxrs_high' : 'vxrs_low'}: the image is damaged`);
  }
  // Without them the frame's vector area stays zero: the task never used vector registers.
  if (low && high) {
    encodeTable(VXRS_LOW_FRAME, low, frame, 0, 'vxrs_low');
    encodeTable(VXRS_HIGH_FRAME, high, frame, 0, 'vxrs_high');
  }
  const alt: AltStack = opts.altstack ?? { sp: 0n, flags: SS_DISABLE, size: 0n };
  encodeTable(FRAME_FIELDS, {
    svc_insn: (SVC_INSN[0]! << 8) | NR_RT_SIGRETURN,
    uc_flags: low ? UC_VXRS : 0n,
    uc_link: 0n,
    ss_sp: alt.sp,
    ss_flags: alt.flags,
    ss_size: alt.size,
    uc_sigmask: opts.sigmask,
  }, frame);
  // rt_sigreturn finds the frame at r15.
  return { frame, frameAddress: opts.addressOfFrame, sp: opts.addressOfFrame };
}
