// s390x CPU facilities as they matter to cryo: which AT_HWCAP bit (or, for runtime
// instrumentation, which STFLE facility number from /proc/cpuinfo) says the CPU has the state a
// thread_info_s390 field holds. Restore refuses an image whose task used one this CPU lacks.

import type { CpuFeatureLine, CpuProbe, MissingFeature, ThreadInfo } from '../types.js';
import type { ImageRecord } from '../regtable.js';

/** AT_HWCAP bit numbers on s390x (glibc bits/hwcap.h, kernel asm/elf.h), every one the kernel defines. */
export const HWCAP_BITS: readonly string[] = [
  'esan3', 'zarch', 'stfle', 'msa', 'ldisp', 'eimm', 'dfp', 'hpage', 'etf3eh', 'highgprs', 'te', 'vx', 'vxd', 'vxe',
  'gs', 'vxe2', 'vxp', 'sort', 'dflt', 'vxp2', 'nnpa', 'pcimio', 'sie',
];
const HWCAP_VXRS = 11;
const HWCAP_GS = 14;
/** STFLE facility 64: runtime instrumentation (no AT_HWCAP bit). */
const FACILITY_RI = 64;

/** One facility a thread_info field needs. */
export interface S390Facility {
  readonly name: string;
  /** thread_info_s390 fields whose presence (with a nonzero value) means the task used it. */
  readonly fields: readonly string[];
  readonly hwcapBit?: number;
  readonly facilityBit?: number;
}

export const FACILITIES: readonly S390Facility[] = [
  { name: 'the vector facility', fields: ['vxrs_low', 'vxrs_high'], hwcapBit: HWCAP_VXRS },
  { name: 'guarded storage', fields: ['gs_cb', 'gs_bc'], hwcapBit: HWCAP_GS },
  { name: 'runtime instrumentation', fields: ['ri_cb'], facilityBit: FACILITY_RI },
];

/** Names of the AT_HWCAP bits set in `hwcap` ('bit N' for bits the table does not name, 31 and up included). */
export function hwcapNames(hwcap: bigint): string[] {
  const out: string[] = [];
  for (let b = 0; b < 64; b++) if ((hwcap >> BigInt(b)) & 1n) out.push(HWCAP_BITS[b] ?? `bit ${b}`);
  return out;
}

/** Whether this CPU has `f`: true, false, or undefined when the probe cannot tell. */
export function hasFacility(f: S390Facility, probe: CpuProbe | undefined): boolean | undefined {
  if (f.hwcapBit !== undefined) return probe?.hwcap === undefined ? undefined : ((probe.hwcap >> BigInt(f.hwcapBit)) & 1n) === 1n;
  if (f.facilityBit !== undefined) return probe?.facilities === undefined ? undefined : probe.facilities.includes(f.facilityBit);
  return true;
}

/** Whether the task used the state in `field`: vector registers count only when one holds a nonzero value. */
function used(ti: ThreadInfo, field: string): boolean {
  const rec = ti[field] as ImageRecord | undefined;
  if (rec === undefined) return false;
  if (field.startsWith('vxrs')) return ((rec.regs as (bigint | number)[] | undefined) ?? []).some((v) => BigInt(v) !== 0n);
  return true;
}

export function missingFacilities(ti: ThreadInfo, probe: CpuProbe | undefined): MissingFeature[] {
  const out: MissingFeature[] = [];
  for (const f of FACILITIES) {
    const fields = f.fields.filter((n) => used(ti, n));
    if (fields.length === 0) continue;
    const has = hasFacility(f, probe);
    if (has === true) continue;
    const bits = f.hwcapBit !== undefined ? [f.hwcapBit] : [f.facilityBit!];
    const how = f.hwcapBit !== undefined ? `AT_HWCAP bit ${f.hwcapBit}` : `facility ${f.facilityBit}`;
    out.push({
      name: f.name, bits,
      message: has === false
        ? `the task used ${f.name} (${fields.join(', ')} in the image) and this CPU lacks it (${how}): restore it on a machine that has it`
        : `the task used ${f.name} (${fields.join(', ')} in the image) and cryo cannot tell whether this CPU has it (${how} unknown): restore it where /proc/cpuinfo lists it`,
    });
  }
  return out;
}

/** `cryo check` lines: the AT_HWCAP bits and each facility cryo saves. */
export function cpuReport(probe: CpuProbe | undefined): CpuFeatureLine[] {
  const lines: CpuFeatureLine[] = [];
  if (probe?.hwcap === undefined) lines.push({ name: 'AT_HWCAP', present: false, meaning: 'cryo could not read AT_HWCAP: it cannot tell which facilities this CPU has' });
  else lines.push({ name: 'AT_HWCAP', present: true, detail: `0x${probe.hwcap.toString(16)}: ${hwcapNames(probe.hwcap).join(' ')}` });
  for (const f of FACILITIES) {
    const has = hasFacility(f, probe);
    if (has) lines.push({ name: f.name, present: true });
    else lines.push({ name: f.name, present: false, meaning: `${has === false ? 'this CPU lacks it' : 'unknown here'}: tasks that used it elsewhere cannot be restored here` });
  }
  return lines;
}
