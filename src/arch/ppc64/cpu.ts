// ppc64 CPU features as the kernel tells user space (AT_HWCAP, AT_HWCAP2; uapi asm/cputable.h).
// A dump records both words (CRIU's cpuinfo image: cpuinfo_ppc64_entry { endian, hwcap[2] });
// restore refuses, before anything starts, an image from a CPU with a feature this one lacks:
// glibc picks its string/memory routines and its syscall instruction (scv) from these words at
// startup, so a restored task may use any of them.

import type { CpuFeatureLine, CpuProbe, MissingFeature, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';

export interface HwcapBit {
  readonly word: 1 | 2;
  readonly bit: number;
  readonly name: string;
  /** What a task compiled or tuned for it may use. */
  readonly feature: string;
}

/** The bits a task's code can depend on (PPC_FEATURE_* of AT_HWCAP, PPC_FEATURE2_* of AT_HWCAP2). */
export const HWCAP_BITS: readonly HwcapBit[] = [
  { word: 1, bit: 0x10000000, name: 'PPC_FEATURE_HAS_ALTIVEC', feature: 'Altivec (VMX)' },
  { word: 1, bit: 0x08000000, name: 'PPC_FEATURE_HAS_FPU', feature: 'the floating-point unit' },
  { word: 1, bit: 0x00001000, name: 'PPC_FEATURE_ARCH_2_05', feature: 'ISA 2.05' },
  { word: 1, bit: 0x00000400, name: 'PPC_FEATURE_HAS_DFP', feature: 'decimal floating point' },
  { word: 1, bit: 0x00000100, name: 'PPC_FEATURE_ARCH_2_06', feature: 'ISA 2.06' },
  { word: 1, bit: 0x00000080, name: 'PPC_FEATURE_HAS_VSX', feature: 'VSX' },
  { word: 2, bit: 0x80000000, name: 'PPC_FEATURE2_ARCH_2_07', feature: 'ISA 2.07' },
  { word: 2, bit: 0x40000000, name: 'PPC_FEATURE2_HTM', feature: 'hardware transactional memory (HTM)' },
  { word: 2, bit: 0x20000000, name: 'PPC_FEATURE2_DSCR', feature: 'the DSCR register' },
  { word: 2, bit: 0x10000000, name: 'PPC_FEATURE2_EBB', feature: 'event-based branches' },
  { word: 2, bit: 0x08000000, name: 'PPC_FEATURE2_ISEL', feature: 'the isel instruction' },
  { word: 2, bit: 0x04000000, name: 'PPC_FEATURE2_TAR', feature: 'the TAR register' },
  { word: 2, bit: 0x02000000, name: 'PPC_FEATURE2_VEC_CRYPTO', feature: 'vector crypto' },
  { word: 2, bit: 0x00800000, name: 'PPC_FEATURE2_ARCH_3_00', feature: 'ISA 3.0' },
  { word: 2, bit: 0x00400000, name: 'PPC_FEATURE2_HAS_IEEE128', feature: 'IEEE 128-bit floating point' },
  { word: 2, bit: 0x00200000, name: 'PPC_FEATURE2_DARN', feature: 'the darn instruction' },
  { word: 2, bit: 0x00100000, name: 'PPC_FEATURE2_SCV', feature: 'the scv system call instruction' },
  { word: 2, bit: 0x00040000, name: 'PPC_FEATURE2_ARCH_3_1', feature: 'ISA 3.1' },
  { word: 2, bit: 0x00020000, name: 'PPC_FEATURE2_MMA', feature: 'matrix-multiply assist (MMA)' },
];

export type ByteOrder = 'LE' | 'BE';
const ENDIAN_NAME: Record<ByteOrder, string> = { LE: 'LITTLEENDIAN', BE: 'BIGENDIAN' };

/** cpuinfo.img's entry for this CPU. */
export function cpuinfoEntry(hwcap: bigint, hwcap2: bigint, order: ByteOrder): ImageRecord {
  return { ppc64_entry: [{ endian: ENDIAN_NAME[order], hwcap: [hwcap, hwcap2] }] };
}

function ppc64Entry(cpuinfo: ImageRecord | undefined): ImageRecord | undefined {
  const e = cpuinfo?.ppc64_entry as ImageRecord[] | undefined;
  return e?.[0];
}

/** The byte order cpuinfo.img says the dump was made in, when it says. */
export function imageByteOrder(cpuinfo: ImageRecord | undefined): ByteOrder | undefined {
  const endian = ppc64Entry(cpuinfo)?.endian;
  if (endian === undefined) return undefined;
  const e = String(endian);
  return e === 'LITTLEENDIAN' || e === '1' ? 'LE' : e === 'BIGENDIAN' || e === '0' ? 'BE' : undefined;
}

const word = (words: readonly bigint[], w: 1 | 2): bigint => words[w - 1] ?? 0n;

function missing(b: HwcapBit, why: string): MissingFeature {
  return { name: b.feature, bits: [b.bit], message: `${why} ${b.feature} (${b.name}), which this CPU lacks: restore it on a CPU that has it` };
}
const ranWith = (b: HwcapBit): MissingFeature => ({ ...missing(b, 'the task ran on a CPU with'), dumpingCpu: `${b.feature} (${b.name})` });

/**
 * What the image needs that a CPU with `host` = [AT_HWCAP, AT_HWCAP2] lacks: every checked bit of the
 * dump host's words, and the state the thread holds (vector registers, a transaction).
 */
export function missingFeatures(ti: ThreadInfo, cpuinfo: ImageRecord | undefined, host: readonly bigint[]): MissingFeature[] {
  const out: MissingFeature[] = [];
  const has = (b: HwcapBit) => (word(host, b.word) & BigInt(b.bit)) !== 0n;
  const bitNamed = (name: string) => HWCAP_BITS.find((b) => b.name === name)!;
  const hw = ppc64Entry(cpuinfo)?.hwcap as (bigint | number)[] | undefined;
  if (hw !== undefined) {
    const img = hw.map((v) => BigInt(v));
    for (const b of HWCAP_BITS) {
      if ((word(img, b.word) & BigInt(b.bit)) !== 0n && !has(b)) out.push(ranWith(b));
    }
  }
  const need = (present: unknown, name: string, what: string) => {
    const b = bitNamed(name);
    if (present !== undefined && !has(b) && !out.some((m) => m.bits[0] === b.bit)) out.push(missing(b, `the task's ${what} need`));
  };
  const tm = ti.tmstate as ImageRecord | undefined;
  need(ti.vrstate ?? tm?.vrstate, 'PPC_FEATURE_HAS_ALTIVEC', 'vector registers');
  need(ti.vsxstate ?? tm?.vsxstate, 'PPC_FEATURE_HAS_VSX', 'VSX registers');
  need(tm, 'PPC_FEATURE2_HTM', 'suspended transaction and its checkpointed registers');
  return out;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** `cryo check` lines: the words and each feature cryo's images can depend on. */
export function cpuReport(probe: CpuProbe | undefined): CpuFeatureLine[] {
  if (probe?.hwcap === undefined) {
    return [{ name: 'AT_HWCAP', present: false, meaning: 'cryo cannot read this CPU\'s features; restore cannot check an image against them' }];
  }
  const host = [probe.hwcap, probe.hwcap2 ?? 0n];
  const lines: CpuFeatureLine[] = [
    { name: 'AT_HWCAP/AT_HWCAP2', present: true, detail: `${hex(host[0]!)} ${hex(host[1]!)}` },
  ];
  for (const b of HWCAP_BITS) {
    const present = (word(host, b.word) & BigInt(b.bit)) !== 0n;
    lines.push(present ? { name: b.feature, present } : { name: b.feature, present, meaning: `images of tasks from CPUs with ${b.name} cannot be restored here` });
  }
  return lines;
}
