// The x86_64 vDSO trampoline: an old entry point becomes `movabs $target, %r11; jmp *%r11`
// (13 bytes). r11 is a scratch register the ABI lets a callee clobber without saving, and no
// vDSO function takes an argument in it.
import type { VdsoTrampoline } from '../types.js';

const MOVABS_R11 = [0x49, 0xbb];
const JMP_R11 = [0x41, 0xff, 0xe3];

export const VDSO_TRAMPOLINE: VdsoTrampoline = {
  entrySize: MOVABS_R11.length + 8 + JMP_R11.length,
  entry(_at, target) {
    const b = Buffer.from([...MOVABS_R11, 0, 0, 0, 0, 0, 0, 0, 0, ...JMP_R11]);
    b.writeBigUInt64LE(BigInt.asUintN(64, target), MOVABS_R11.length);
    return b;
  },
  kernelOnly: [],
};
