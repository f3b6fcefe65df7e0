// The aarch64 vDSO trampoline: an old entry point becomes `bti c; ldr x16, =target; br x16` with
// the 8-byte target beside it (24 bytes). x16 (IP0) is the scratch register the ABI gives veneers;
// `bti c` keeps a call landing on a guarded page legal, and `br x16` is what the new vDSO's own
// `bti c` accepts. The literal sits on an 8-byte boundary, whichever 4-byte boundary the entry has.
import type { ByteOrder } from '../regtable.js';
import type { VdsoTrampoline } from '../types.js';

const BTI_C = 0xd503245f;
const NOP = 0xd503201f;
const BR_X16 = 0xd61f0200;
/** LDR X16, <literal at pc + 4 * imm19>. */
const ldrX16 = (byteOffset: number) => (0x58000010 | ((byteOffset / 4) << 5)) >>> 0;

export function vdsoTrampoline(order: ByteOrder): VdsoTrampoline {
  const put32 = (b: Buffer, v: number, at: number) => (order === 'LE' ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  return {
    entrySize: 24,
    entry(at, target) {
      const b = Buffer.alloc(24);
      // The ldr is at +4; its literal at +12 when that is 8-aligned, else at +16 after a nop.
      const lit = (at + 12n) % 8n === 0n ? 12 : 16;
      [BTI_C, ldrX16(lit - 4), BR_X16].forEach((w, i) => put32(b, w, i * 4));
      put32(b, NOP, lit === 12 ? 20 : 12);
      if (order === 'LE') b.writeBigUInt64LE(BigInt.asUintN(64, target), lit); else b.writeBigUInt64BE(BigInt.asUintN(64, target), lit);
      return b;
    },
    // The kernel returns from a signal handler through this one, always in the vDSO it maps now
    // (mm->context.vdso, the new one); a frame delivered before the dump returns to the old bytes,
    // which come back unpatched (`mov x8, #139; svc #0` works from anywhere).
    kernelOnly: ['__kernel_rt_sigreturn'],
  };
}
