// The ppc64 vDSO trampoline, in two steps (no instruction holds a 64-bit address): each old entry
// point becomes `mflr r0; bl shared` followed by the target's 8-byte address; the shared code,
// written once into the old vDSO, takes that address from the link register, puts the caller's
// link register back and branches there through ctr with r12 = target (the ELFv2 global entry
// convention). r0, r12 and ctr are volatile across calls in both ABIs.
import type { ByteOrder } from '../regtable.js';
import type { VdsoTrampoline } from '../types.js';

const MFLR_R0 = 0x7c0802a6;
const MFLR_R12 = 0x7d8802a6;
const MTLR_R0 = 0x7c0803a6;
const LD_R12_0_R12 = 0xe98c0000;
const MTCTR_R12 = 0x7d8903a6;
const BCTR = 0x4e800420;
/** `bl` (I-form, opcode 18, LK=1) with a 26-bit signed, word-aligned displacement. */
const BL = 0x48000001;
const BL_REACH = 1n << 25n;

function words(order: ByteOrder, ws: number[]): Buffer {
  const b = Buffer.alloc(ws.length * 4);
  ws.forEach((w, i) => (order === 'LE' ? b.writeUInt32LE(w >>> 0, i * 4) : b.writeUInt32BE(w >>> 0, i * 4)));
  return b;
}

export function vdsoTrampoline(order: ByteOrder): VdsoTrampoline {
  return {
    entrySize: 16,
    shared: words(order, [MFLR_R12, MTLR_R0, LD_R12_0_R12, MTCTR_R12, BCTR]),
    entry(at, target, shared) {
      const rel = shared - (at + 4n);
      if (rel < -BL_REACH || rel >= BL_REACH) throw new Error(`the vDSO trampoline at 0x${shared.toString(16)} is out of a branch's reach from 0x${at.toString(16)}`);
      const b = Buffer.alloc(16);
      words(order, [MFLR_R0, (BL | (Number(BigInt.asUintN(26, rel)) & 0x03fffffc)) >>> 0]).copy(b, 0);
      if (order === 'LE') b.writeBigUInt64LE(BigInt.asUintN(64, target), 8); else b.writeBigUInt64BE(BigInt.asUintN(64, target), 8);
      return b;
    },
    // The kernel starts a signal handler at this one (it calls the handler, which returns to
    // __kernel_sigtramp_rt64), always in the vDSO mm->context.vdso names: the new one.
    kernelOnly: ['__kernel_start_sigtramp_rt64', '__kernel_start_sigtramp32'],
  };
}
