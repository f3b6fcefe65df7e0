// aarch64 CPU features as the kernel tells user space (AT_HWCAP, AT_HWCAP2; uapi asm/hwcap.h).
// A dump records both words in cryo-cpu.img (CRIU 4.2's cpuinfo image has no aarch64 entry);
// restore refuses, before anything starts, an image from a CPU with a feature this one lacks:
// glibc and compilers' outline atomics pick their routines from these words at startup, so a
// restored task may run any instruction they announce. The thread's own state (FP/SIMD, PAC keys)
// is checked as well, for images without cryo-cpu.img (made by CRIU).

import type { CpuFeatureLine, CpuProbe, MissingFeature, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';
import { PR_MTE_TCF_MASK } from './mte.js';

const big = (v: unknown): bigint => (v === undefined ? 0n : BigInt(v as bigint | number));

export interface HwcapBit {
  readonly word: 1 | 2;
  readonly bit: bigint;
  readonly name: string;
  readonly feature: string;
}

/** Names of AT_HWCAP's bits from bit 0 on ('' = not a CPU feature a task can use: EVTSTRM is a kernel timer setting). */
const HWCAP_NAMES = [
  'FP', 'ASIMD', '', 'AES', 'PMULL', 'SHA1', 'SHA2', 'CRC32', 'ATOMICS', 'FPHP', 'ASIMDHP', 'CPUID', 'ASIMDRDM',
  'JSCVT', 'FCMA', 'LRCPC', 'DCPOP', 'SHA3', 'SM3', 'SM4', 'ASIMDDP', 'SHA512', 'SVE', 'ASIMDFHM', 'DIT', 'USCAT',
  'ILRCPC', 'FLAGM', 'SSBS', 'SB', 'PACA', 'PACG',
];
/** Names of AT_HWCAP2's bits from bit 0 on (Linux 6.12). */
const HWCAP2_NAMES = [
  'DCPODP', 'SVE2', 'SVEAES', 'SVEPMULL', 'SVEBITPERM', 'SVESHA3', 'SVESM4', 'FLAGM2', 'FRINT', 'SVEI8MM',
  'SVEF32MM', 'SVEF64MM', 'SVEBF16', 'I8MM', 'BF16', 'DGH', 'RNG', 'BTI', 'MTE', 'ECV', 'AFP', 'RPRES', 'MTE3',
  'SME', 'SME_I16I64', 'SME_F64F64', 'SME_I8I32', 'SME_F16F32', 'SME_B16F32', 'SME_F32F32', 'SME_FA64', 'WFXT',
  'EBF16', 'SVE_EBF16', 'CSSC', 'RPRFM', 'SVE2P1', 'SME2', 'SME2P1', 'SME_I16I32', 'SME_BI32I32', 'SME_B16B16',
  'SME_F16F16', 'MOPS', 'HBC', 'SVE_B16B16', 'LRCPC3', 'LSE128', 'FPMR', 'LUT', 'FAMINMAX', 'F8CVT', 'F8FMA',
  'F8DP4', 'F8DP2', 'F8E4M3', 'F8E5M2', 'SME_LUTV2', 'SME_F8F16', 'SME_F8F32', 'SME_SF8FMA', 'SME_SF8DP4',
];
/** Words for the features an error line should explain; the rest go by their HWCAP name. */
const FEATURES: Readonly<Record<string, string>> = {
  HWCAP_FP: 'floating point', HWCAP_ASIMD: 'Advanced SIMD (NEON)', HWCAP_ATOMICS: 'the LSE atomics',
  HWCAP_SVE: 'SVE', HWCAP_PACA: 'address authentication (PAC)', HWCAP_PACG: 'generic authentication (PAC)',
  HWCAP2_SVE2: 'SVE2', HWCAP2_MTE: 'memory tagging (MTE)', HWCAP2_BTI: 'branch target identification (BTI)',
  HWCAP2_SME: 'SME', HWCAP2_SME2: 'SME2',
};

const bits = (word: 1 | 2, names: readonly string[], prefix: string): HwcapBit[] => names.flatMap((n, i) => {
  if (n === '') return [];
  const name = `${prefix}_${n}`;
  return [{ word, bit: 1n << BigInt(i), name, feature: FEATURES[name] ?? n.toLowerCase().replace(/_/g, ' ') }];
});

/** Every AT_HWCAP/AT_HWCAP2 bit a task's code can depend on. */
export const HWCAP_BITS: readonly HwcapBit[] = [...bits(1, HWCAP_NAMES, 'HWCAP'), ...bits(2, HWCAP2_NAMES, 'HWCAP2')];
/** Bits that say nothing about the CPU (HWCAP_EVTSTRM): never compared. */
const IGNORED = [1n << 2n, 0n];

const bitNamed = (name: string): HwcapBit => HWCAP_BITS.find((b) => b.name === name)!;
const word = (words: readonly bigint[], w: number): bigint => words[w - 1] ?? 0n;

function missing(b: HwcapBit, why: string): MissingFeature {
  return { name: b.feature, bits: [Number(b.bit)], message: `${why} ${b.feature} (${b.name}), which this CPU lacks: restore it on a CPU that has it` };
}
const ranWith = (name: string, bits: number[], what: string): MissingFeature =>
  ({ name, bits, message: `the task ran on a CPU with ${what}, which this CPU lacks: restore it on a CPU that has it`, dumpingCpu: what });

/** cryo-cpu.img's entry for this CPU: [AT_HWCAP, AT_HWCAP2]. */
export function cryoCpuEntry(host: readonly bigint[]): ImageRecord {
  return { hwcap: [word(host, 1), word(host, 2)] };
}

/**
 * What the image needs that a CPU with `host` = [AT_HWCAP, AT_HWCAP2] lacks: every feature bit of
 * the dumping CPU's words (cryo-cpu.img), and the state the thread holds.
 */
export function missingFeatures(ti: ThreadInfo, cryoCpu: ImageRecord | undefined, host: readonly bigint[], probe?: CpuProbe): MissingFeature[] {
  const has = (b: HwcapBit) => (word(host, b.word) & b.bit) !== 0n;
  const out: MissingFeature[] = [];
  const hw = (cryoCpu?.hwcap as (bigint | number)[] | undefined)?.map((v) => BigInt(v));
  if (hw !== undefined) {
    for (let w = 1; w <= hw.length; w++) {
      const lacking = word(hw, w) & ~word(host, w) & ~(IGNORED[w - 1] ?? 0n);
      for (let i = 0n; i < 64n; i++) {
        if ((lacking & (1n << i)) === 0n) continue;
        const b = HWCAP_BITS.find((x) => x.word === w && x.bit === 1n << i);
        const bit = `AT_HWCAP${w === 1 ? '' : w} bit ${i}`;
        out.push(b !== undefined ? ranWith(b.feature, [Number(b.bit)], `${b.feature} (${b.name})`) : ranWith(bit, [Number(i)], bit));
      }
    }
  }
  const need = (present: unknown, name: string, what: string) => {
    const b = bitNamed(name);
    if (present !== undefined && !has(b) && !out.some((m) => m.name === b.feature)) out.push(missing(b, `the task's ${what} need`));
  };
  need(ti.fpsimd, 'HWCAP_FP', 'FP/SIMD registers');
  need(ti.fpsimd, 'HWCAP_ASIMD', 'FP/SIMD registers');
  need(ti.pac_keys, 'HWCAP_PACA', 'pointer-authentication keys');
  need(ti.sve, 'HWCAP_SVE', 'SVE vector length and registers');
  need(ti.tpidr2, 'HWCAP2_SME', 'TPIDR2_EL0');
  const sme = ti.sme as ImageRecord | undefined;
  need(sme, 'HWCAP2_SME', 'SME state (streaming vector length, streaming mode, ZA)');
  need(sme?.zt0, 'HWCAP2_SME2', 'SME2 ZT0 register');
  need((big(ti.tagged_addr_ctrl) & PR_MTE_TCF_MASK) !== 0n ? true : undefined, 'HWCAP2_MTE', 'MTE tag checks (PR_SET_TAGGED_ADDR_CTRL)');
  const vl = Number((ti.sve as ImageRecord | undefined)?.vl ?? 0);
  const got = vl > 0 && has(bitNamed('HWCAP_SVE')) ? probe?.sveVectorLength?.(vl) : undefined;
  if (got !== undefined && got !== vl) {
    out.push({
      name: `SVE vector length ${vl}`, bits: [],
      message: `the task uses an SVE vector length of ${vl} bytes, which this CPU lacks (it offers ${got} below that): restore it on a CPU with ${vl * 8}-bit vectors`,
    });
  }
  return out;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The features `cryo check` lists one by one (the words line covers the rest). */
const REPORTED = ['HWCAP_FP', 'HWCAP_ASIMD', 'HWCAP_ATOMICS', 'HWCAP_SVE', 'HWCAP_PACA', 'HWCAP_PACG', 'HWCAP2_SVE2', 'HWCAP2_MTE', 'HWCAP2_BTI', 'HWCAP2_SME'];

/** `cryo check` lines: the words and each feature cryo's images can depend on. */
export function cpuReport(probe: CpuProbe | undefined): CpuFeatureLine[] {
  if (probe?.hwcap === undefined) {
    return [{ name: 'AT_HWCAP', present: false, meaning: 'cryo cannot read this CPU\'s features; restore cannot check an image against them' }];
  }
  const host = [probe.hwcap, probe.hwcap2 ?? 0n];
  const lines: CpuFeatureLine[] = [{ name: 'AT_HWCAP/AT_HWCAP2', present: true, detail: `${hex(host[0]!)} ${hex(host[1]!)}` }];
  for (const b of REPORTED.map(bitNamed)) {
    const present = (word(host, b.word) & b.bit) !== 0n;
    lines.push(present ? { name: b.feature, present } : { name: b.feature, present, meaning: `images of tasks from CPUs with ${b.name} cannot be restored here` });
  }
  return lines;
}
