// /proc/PID/auxv: native-word (type, value) pairs up to AT_NULL.
import { endianness } from 'node:os';
import { procPath, readProcBytes, type Pid } from './read.js';

/**
 * AT_* numbers (include/uapi/linux/auxvec.h plus the arch headers). Each number
 * means the same on every architecture that defines it, so one table serves all.
 */
export const AT_NAMES: Readonly<Record<number, string>> = {
  0: 'AT_NULL',
  1: 'AT_IGNORE',
  2: 'AT_EXECFD',
  3: 'AT_PHDR',
  4: 'AT_PHENT',
  5: 'AT_PHNUM',
  6: 'AT_PAGESZ',
  7: 'AT_BASE',
  8: 'AT_FLAGS',
  9: 'AT_ENTRY',
  10: 'AT_NOTELF',
  11: 'AT_UID',
  12: 'AT_EUID',
  13: 'AT_GID',
  14: 'AT_EGID',
  15: 'AT_PLATFORM',
  16: 'AT_HWCAP',
  17: 'AT_CLKTCK',
  18: 'AT_FPUCW',
  19: 'AT_DCACHEBSIZE',
  20: 'AT_ICACHEBSIZE',
  21: 'AT_UCACHEBSIZE',
  22: 'AT_IGNOREPPC',
  23: 'AT_SECURE',
  24: 'AT_BASE_PLATFORM',
  25: 'AT_RANDOM',
  26: 'AT_HWCAP2',
  27: 'AT_RSEQ_FEATURE_SIZE',
  28: 'AT_RSEQ_ALIGN',
  29: 'AT_HWCAP3',
  30: 'AT_HWCAP4',
  31: 'AT_EXECFN',
  32: 'AT_SYSINFO',
  33: 'AT_SYSINFO_EHDR',
  34: 'AT_L1I_CACHESHAPE',
  35: 'AT_L1D_CACHESHAPE',
  36: 'AT_L2_CACHESHAPE',
  37: 'AT_L3_CACHESHAPE',
  40: 'AT_L1I_CACHESIZE',
  41: 'AT_L1I_CACHEGEOMETRY',
  42: 'AT_L1D_CACHESIZE',
  43: 'AT_L1D_CACHEGEOMETRY',
  44: 'AT_L2_CACHESIZE',
  45: 'AT_L2_CACHEGEOMETRY',
  46: 'AT_L3_CACHESIZE',
  47: 'AT_L3_CACHEGEOMETRY',
  51: 'AT_MINSIGSTKSZ',
};

/** Reverse of AT_NAMES: AT.AT_PAGESZ === 6. */
export const AT: Readonly<Record<string, number>> = Object.fromEntries(Object.entries(AT_NAMES).map(([n, name]) => [name, Number(n)]));

export interface AuxvEntry {
  type: number;
  /** AT_* name, or 'AT_<n>' for numbers this table does not know. */
  name: string;
  value: bigint;
}

/** Pointer size of the host by Node's process.arch (data, not a branch per architecture). */
const WORD_BYTES: Readonly<Record<string, 4 | 8>> = { x64: 8, arm64: 8, ppc64: 8, s390x: 8, riscv64: 8, loong64: 8, mips64el: 8, ia32: 4, arm: 4, mips: 4, mipsel: 4, s390: 4, ppc: 4 };

export function hostWordBytes(): 4 | 8 {
  const w = WORD_BYTES[process.arch];
  if (!w) throw new Error(`unknown word size for architecture ${process.arch}`);
  return w;
}

/** Parses auxv bytes: pairs until AT_NULL (the AT_NULL entry itself is left out). */
export function parseAuxv(buf: Buffer, wordBytes: 4 | 8 = hostWordBytes(), le = endianness() === 'LE'): AuxvEntry[] {
  const read = (off: number): bigint =>
    wordBytes === 8
      ? le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off)
      : BigInt(le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const out: AuxvEntry[] = [];
  for (let off = 0; off + 2 * wordBytes <= buf.length; off += 2 * wordBytes) {
    const type = Number(read(off));
    if (type === 0) break;
    out.push({ type, name: AT_NAMES[type] ?? `AT_${type}`, value: read(off + wordBytes) });
  }
  return out;
}

/** /proc/PID/auxv, in the task's word size (a 32-bit task's is 4 bytes a word). */
export function readAuxv(pid: Pid, wordBytes: 4 | 8 = hostWordBytes()): AuxvEntry[] {
  return parseAuxv(readProcBytes(procPath(pid, 'auxv')), wordBytes);
}

/** The value of one AT_* entry, or undefined. */
export function auxvValue(entries: readonly AuxvEntry[], type: number): bigint | undefined {
  return entries.find((e) => e.type === type)?.value;
}
