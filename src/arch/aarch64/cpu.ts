// aarch64 CPU features as the kernel tells user space (AT_HWCAP, AT_HWCAP2; uapi asm/hwcap.h).
// CRIU 4.2's cpuinfo image has no aarch64 entry, so the dump's words are not recorded yet; restore
// checks the state the image holds against this CPU (the FP/SIMD registers, PAC keys).

import type { CpuFeatureLine, CpuProbe, MissingFeature, ThreadInfo } from '../types.js';

export interface HwcapBit {
  readonly word: 1 | 2;
  readonly bit: bigint;
  readonly name: string;
  readonly feature: string;
}

/** The bits cryo's images can depend on (HWCAP_* of AT_HWCAP, HWCAP2_* of AT_HWCAP2). */
export const HWCAP_BITS: readonly HwcapBit[] = [
  { word: 1, bit: 1n << 0n, name: 'HWCAP_FP', feature: 'floating point' },
  { word: 1, bit: 1n << 1n, name: 'HWCAP_ASIMD', feature: 'Advanced SIMD (NEON)' },
  { word: 1, bit: 1n << 22n, name: 'HWCAP_SVE', feature: 'SVE' },
  { word: 1, bit: 1n << 30n, name: 'HWCAP_PACA', feature: 'address authentication (PAC)' },
  { word: 1, bit: 1n << 31n, name: 'HWCAP_PACG', feature: 'generic authentication (PAC)' },
  { word: 2, bit: 1n << 1n, name: 'HWCAP2_SVE2', feature: 'SVE2' },
  { word: 2, bit: 1n << 18n, name: 'HWCAP2_MTE', feature: 'memory tagging (MTE)' },
  { word: 2, bit: 1n << 20n, name: 'HWCAP2_BTI', feature: 'branch target identification (BTI)' },
  { word: 2, bit: 1n << 23n, name: 'HWCAP2_SME', feature: 'SME' },
];

const bitNamed = (name: string): HwcapBit => HWCAP_BITS.find((b) => b.name === name)!;

/** What the image's thread state needs that a CPU with `host` = [AT_HWCAP, AT_HWCAP2] lacks. */
export function missingFeatures(ti: ThreadInfo, host: readonly bigint[]): MissingFeature[] {
  const has = (b: HwcapBit) => ((host[b.word - 1] ?? 0n) & b.bit) !== 0n;
  const out: MissingFeature[] = [];
  const need = (present: unknown, name: string, what: string) => {
    const b = bitNamed(name);
    if (present === undefined || has(b)) return;
    out.push({ name: b.feature, bits: [Number(b.bit)], message: `the task's ${what} need ${b.feature} (${b.name}), which this CPU lacks: restore it on a CPU that has it` });
  };
  need(ti.fpsimd, 'HWCAP_FP', 'FP/SIMD registers');
  need(ti.fpsimd, 'HWCAP_ASIMD', 'FP/SIMD registers');
  need(ti.pac_keys, 'HWCAP_PACA', 'pointer-authentication keys');
  return out;
}

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** `cryo check` lines: the words and each feature cryo's images can depend on. */
export function cpuReport(probe: CpuProbe | undefined): CpuFeatureLine[] {
  if (probe?.hwcap === undefined) {
    return [{ name: 'AT_HWCAP', present: false, meaning: 'cryo cannot read this CPU\'s features; restore cannot check an image against them' }];
  }
  const host = [probe.hwcap, probe.hwcap2 ?? 0n];
  const lines: CpuFeatureLine[] = [{ name: 'AT_HWCAP/AT_HWCAP2', present: true, detail: `${hex(host[0]!)} ${hex(host[1]!)}` }];
  for (const b of HWCAP_BITS) {
    const present = ((host[b.word - 1] ?? 0n) & b.bit) !== 0n;
    lines.push(present ? { name: b.feature, present } : { name: b.feature, present, meaning: `tasks using ${b.name} cannot be dumped with that state or restored here` });
  }
  return lines;
}
