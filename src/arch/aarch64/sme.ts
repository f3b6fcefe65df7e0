// SME state of a thread (uapi asm/ptrace.h, asm/sigcontext.h): the streaming vector length, streaming
// SVE mode with its registers (NT_ARM_SSVE: user_sve_header's layout, flags SVE_PT_REGS_SVE when the
// thread is in streaming mode), the ZA matrix (NT_ARM_ZA: a header like user_sve_header, then SVL x SVL
// bytes in row order when ZA is on) and SME2's ZT0 (NT_ARM_ZT, 64 bytes, meaningful while ZA is on).
// CRIU has no field for any of it: thread_info.sme in cryo-core-TID.img. Restore sets the streaming
// vector length by ptrace (a header-only NT_ARM_ZA, which also turns ZA off), and the signal frame
// carries the rest: an sve_context with SVE_SIG_FLAG_SM, a za_context and a zt_context.

import type { ImageRecord, RegField } from '../regtable.js';
import type { Regsets, RegsetSpec } from '../types.js';
import { decodeTable, encodeTable } from './byte-order.js';
import { SVE_HEADER, SVE_HEADER_SIZE, SVE_MAX_SIZE, SVE_PT_REGS_SVE, SVE_PT_VL_INHERIT, sveRegsSize, VQ_MAX, vqOf } from './sve.js';

export const NT_ARM_SSVE = 0x40b;
export const NT_ARM_ZA = 0x40c;
export const NT_ARM_ZT = 0x40d;
/** ZA's bytes at streaming vector length `vl` (ZA_PT_ZA_SIZE: vl rows of vl bytes). */
export const zaSize = (vl: number): number => vl * vl;
export const ZT0_SIZE = 64;
const ZA_MAX_SIZE = SVE_HEADER_SIZE + zaSize(VQ_MAX * 16);

/** The regsets read at dump (absent on CPUs or kernels without SME; NT_ARM_ZT without SME2). */
export const SME_REGSETS: readonly RegsetSpec[] = [
  { nt: NT_ARM_SSVE, name: 'NT_ARM_SSVE', maxSize: SVE_MAX_SIZE, required: false },
  { nt: NT_ARM_ZA, name: 'NT_ARM_ZA', maxSize: ZA_MAX_SIZE, required: false },
  { nt: NT_ARM_ZT, name: 'NT_ARM_ZT', maxSize: ZT0_SIZE, required: false },
];

const bytes = (v: unknown): Buffer | undefined => (v === undefined ? undefined : Buffer.from(v as Uint8Array));

/** The regsets -> thread_info.sme, or undefined on a CPU without SME. */
export function decodeSme(regsets: Regsets): ImageRecord | undefined {
  const za = regsets.get(NT_ARM_ZA);
  if (za === undefined || za.length < SVE_HEADER_SIZE) return undefined;
  const h = decodeTable(SVE_HEADER, za);
  const vl = Number(h.vl);
  vqOf(vl, 'NT_ARM_ZA');
  const out: ImageRecord = { vl, flags: Number(h.flags) & SVE_PT_VL_INHERIT };
  const ssve = regsets.get(NT_ARM_SSVE);
  if (ssve !== undefined && ssve.length >= SVE_HEADER_SIZE && (Number(decodeTable(SVE_HEADER, ssve).flags) & SVE_PT_REGS_SVE) !== 0) {
    const end = SVE_HEADER_SIZE + sveRegsSize(vl / 16);
    if (ssve.length < end) throw new Error(`NT_ARM_SSVE has ${ssve.length} bytes, not the ${end} of streaming vector length ${vl}`);
    out.ssve = Buffer.from(ssve.subarray(SVE_HEADER_SIZE, end));
  }
  if (Number(h.size) > SVE_HEADER_SIZE) {
    const end = SVE_HEADER_SIZE + zaSize(vl);
    if (za.length < end) throw new Error(`NT_ARM_ZA has ${za.length} bytes, not the ${end} of streaming vector length ${vl}`);
    out.za = Buffer.from(za.subarray(SVE_HEADER_SIZE, end));
    const zt = regsets.get(NT_ARM_ZT);
    if (zt !== undefined && zt.length >= ZT0_SIZE) out.zt0 = Buffer.from(zt.subarray(0, ZT0_SIZE));
  }
  return out;
}

/** thread_info.sme checked: its vector length valid and every live piece of the size that length gives. */
export function smeState(sme: ImageRecord, where: string): { vl: number; flags: number; ssve?: Buffer; za?: Buffer; zt0?: Buffer } {
  const vl = Number(sme.vl);
  const vq = vqOf(vl, where);
  const ssve = bytes(sme.ssve), za = bytes(sme.za), zt0 = bytes(sme.zt0);
  const check = (name: string, b: Buffer | undefined, size: number) => {
    if (b !== undefined && b.length !== size) throw new Error(`${where}.${name} has ${b.length} bytes, not the ${size} of streaming vector length ${vl}: the image is damaged`);
  };
  check('ssve', ssve, sveRegsSize(vq));
  check('za', za, zaSize(vl));
  check('zt0', zt0, ZT0_SIZE);
  if (zt0 !== undefined && za === undefined) throw new Error(`${where} has ZT0 without ZA, which the CPU cannot hold: the image is damaged`);
  return { vl, flags: Number(sme.flags ?? 0) & SVE_PT_VL_INHERIT, ssve, za, zt0 };
}

/** The NT_ARM_ZA restore writes before rt_sigreturn: the header alone (streaming vector length set, ZA off). */
export function encodeZaHeader(sme: ImageRecord, where: string): Buffer {
  const { vl, flags } = smeState(sme, where);
  const buf = Buffer.alloc(SVE_HEADER_SIZE);
  encodeTable(SVE_HEADER, { size: SVE_HEADER_SIZE, max_size: 0, vl, max_vl: 0, flags }, buf, 0, where);
  return buf;
}

/** struct za_context and struct zt_context (asm/sigcontext.h): head { magic, size }, then vl / nregs. */
export const ZA_MAGIC = 0x54366345;
export const ZT_MAGIC = 0x5a544e01;
export const ZA_CONTEXT: readonly RegField[] = [
  { name: 'magic', offset: 0, image: 'u32' },
  { name: 'size', offset: 4, image: 'u32' },
  { name: 'vl', offset: 8, image: 'u32', raw: 'u16' },
];
export const ZT_CONTEXT: readonly RegField[] = [
  { name: 'magic', offset: 0, image: 'u32' },
  { name: 'size', offset: 4, image: 'u32' },
  { name: 'nregs', offset: 8, image: 'u32', raw: 'u16' },
];
/** Both records' registers start after their 16-byte head (ZA_SIG_REGS_OFFSET, ZT_SIG_REGS_OFFSET). */
export const SME_SIG_REGS_OFFSET = 16;

/** The za_context (header only when ZA is off: rt_sigreturn then turns it off) and zt_context records. */
export function smeRecords(sme: ImageRecord, where: string): Buffer[] {
  const s = smeState(sme, where);
  const za = Buffer.alloc(SME_SIG_REGS_OFFSET + (s.za?.length ?? 0));
  encodeTable(ZA_CONTEXT, { magic: ZA_MAGIC, size: za.length, vl: s.vl }, za, 0, `${where}.za`);
  s.za?.copy(za, SME_SIG_REGS_OFFSET);
  if (s.zt0 === undefined) return [za];
  const zt = Buffer.alloc(SME_SIG_REGS_OFFSET + ZT0_SIZE);
  encodeTable(ZT_CONTEXT, { magic: ZT_MAGIC, size: zt.length, nregs: 1 }, zt, 0, `${where}.zt0`);
  s.zt0.copy(zt, SME_SIG_REGS_OFFSET);
  return [za, zt];
}
