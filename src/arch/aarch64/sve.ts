// SVE state of a thread: NT_ARM_SVE (uapi asm/ptrace.h: struct user_sve_header, then either a
// user_fpsimd_state or the SVE registers) and the signal frame's sve_context (asm/sigcontext.h).
// Both carry Z0..Z31, P0..P15 and FFR in the same layout (asm/sve_context.h: per register vq
// quadwords, endian-invariant bytes), so the image keeps them as one byte string beside the
// vector length. CRIU has no field for any of it: cryo-core-TID.img (src/images/cryo-core.ts).
// A thread stopped in a syscall has no live SVE registers (the kernel drops them at entry).

import type { ImageRecord, RegField } from '../regtable.js';
import { decodeTable, encodeTable } from './byte-order.js';
import { FP_REGS } from './regs.js';

export const NT_ARM_SVE = 0x405;

/** struct user_sve_header. */
export const SVE_HEADER: readonly RegField[] = [
  { name: 'size', offset: 0, image: 'u32' },
  { name: 'max_size', offset: 4, image: 'u32' },
  { name: 'vl', offset: 8, image: 'u32', raw: 'u16' },
  { name: 'max_vl', offset: 10, image: 'u32', raw: 'u16' },
  { name: 'flags', offset: 12, image: 'u32', raw: 'u16' },
];
export const SVE_HEADER_SIZE = 16;
/** flags: the registers that follow are SVE ones (else a user_fpsimd_state). */
export const SVE_PT_REGS_SVE = 1;
/** flags the task set with prctl(PR_SVE_SET_VL) that restore gives back (PR_SVE_VL_INHERIT >> 16). */
export const SVE_PT_VL_INHERIT = 2;
const KEPT_FLAGS = SVE_PT_REGS_SVE | SVE_PT_VL_INHERIT;

export const VQ_BYTES = 16;
/** The architecture's longest vector: 2048 bits. */
export const VQ_MAX = 16;
export const roundUp = (x: number, y: number) => Math.ceil(x / y) * y;

/** Bytes of Z0..Z31, P0..P15 and FFR at `vq` quadwords (SVE_SIG_REGS_SIZE). */
export const sveRegsSize = (vq: number): number => 32 * vq * VQ_BYTES + 16 * vq * 2 + vq * 2;
/** Where NT_ARM_SVE's fpsr and fpcr sit (SVE_PT_SVE_FPSR_OFFSET) and the whole regset's size. */
const fpsrOffset = (vq: number) => roundUp(SVE_HEADER_SIZE + sveRegsSize(vq), VQ_BYTES);
const svePtSize = (vq: number) => SVE_HEADER_SIZE + roundUp(fpsrOffset(vq) + 8 - SVE_HEADER_SIZE, VQ_BYTES);
/** user_fpsimd_state, as NT_PRFPREG has it. */
const FPSIMD_SIZE = 528;
/** A buffer that holds NT_ARM_SVE at any vector length. */
export const SVE_MAX_SIZE = svePtSize(VQ_MAX);

/** NT_ARM_SVE -> thread_info.sve { vl, flags, regs? }. */
export function decodeSve(buf: Buffer): ImageRecord {
  const h = decodeTable(SVE_HEADER, buf);
  const vl = Number(h.vl);
  const flags = Number(h.flags) & KEPT_FLAGS;
  const out: ImageRecord = { vl, flags };
  if ((flags & SVE_PT_REGS_SVE) !== 0) {
    const vq = vqOf(vl, 'NT_ARM_SVE');
    const end = SVE_HEADER_SIZE + sveRegsSize(vq);
    if (buf.length < end) throw new Error(`NT_ARM_SVE has ${buf.length} bytes, not the ${end} of vector length ${vl}`);
    out.regs = Buffer.from(buf.subarray(SVE_HEADER_SIZE, end));
  }
  return out;
}

/** The quadwords of vector length `vl`, which must be valid (16..256 bytes, a multiple of 16). */
export function vqOf(vl: number, where: string): number {
  if (!Number.isInteger(vl) || vl % VQ_BYTES !== 0 || vl < VQ_BYTES || vl > VQ_MAX * VQ_BYTES) {
    throw new Error(`${where}: SVE vector length ${vl} is not a multiple of 16 from 16 to 256 bytes: the image is damaged`);
  }
  return vl / VQ_BYTES;
}

/** The live SVE registers of `sve` checked against its vector length, or undefined when they are not live. */
export function sveRegs(sve: ImageRecord, where: string): { vl: number; regs: Buffer } | undefined {
  if ((Number(sve.flags) & SVE_PT_REGS_SVE) === 0) return undefined;
  const vl = Number(sve.vl);
  const vq = vqOf(vl, where);
  const regs = sve.regs as Uint8Array | undefined;
  if (regs === undefined || regs.length !== sveRegsSize(vq)) {
    throw new Error(`${where}.regs has ${regs?.length ?? 0} bytes, not the ${sveRegsSize(vq)} of vector length ${vl}: the image is damaged`);
  }
  return { vl, regs: Buffer.from(regs) };
}

/** thread_info.sve (and .fpsimd, for fpsr/fpcr or the whole FP state) -> NT_ARM_SVE for PTRACE_SETREGSET. */
export function encodeSve(sve: ImageRecord, fpsimd: ImageRecord, where: string): Buffer {
  const vl = Number(sve.vl);
  const vq = vqOf(vl, where);
  const live = sveRegs(sve, where);
  const flags = Number(sve.flags) & KEPT_FLAGS;
  const size = live ? svePtSize(vq) : SVE_HEADER_SIZE + FPSIMD_SIZE;
  const buf = Buffer.alloc(size);
  encodeTable(SVE_HEADER, { size, max_size: 0, vl, max_vl: 0, flags }, buf, 0, where);
  if (live) {
    live.regs.copy(buf, SVE_HEADER_SIZE);
    const fp = FP_REGS.filter((f) => f.name !== 'vregs').map((f) => ({ ...f, offset: fpsrOffset(vq) + f.offset - 512 }));
    encodeTable(fp, fpsimd, buf, 0, `${where} (fpsimd)`);
  } else {
    encodeTable(FP_REGS, fpsimd, buf, SVE_HEADER_SIZE, `${where} (fpsimd)`);
  }
  return buf;
}
