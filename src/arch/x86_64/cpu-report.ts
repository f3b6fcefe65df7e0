// x86_64's lines for `cryo check`: the xsave features the kernel enabled (XCR0), named by the
// component table in regs.ts.
import type { CpuFeatureLine, CpuProbe } from '../types.js';
import { XSAVE_COMPONENTS } from './regs.js';

const ok = (name: string, detail?: string): CpuFeatureLine => (detail === undefined ? { name, present: true } : { name, present: true, detail });
const missing = (name: string, meaning: string, error?: unknown): CpuFeatureLine =>
  error === undefined ? { name, present: false, meaning } : { name, present: false, meaning, error: error instanceof Error ? error.message : String(error) };

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** User-state features by the name a user knows, with their xsave bits, in table order. */
function userFeatures(): { feature: string; bits: bigint; imageHolds: boolean }[] {
  const out = new Map<string, { feature: string; bits: bigint; imageHolds: boolean }>();
  for (const c of XSAVE_COMPONENTS) {
    if (c.supervisor) continue;
    const f = out.get(c.feature) ?? { feature: c.feature, bits: 0n, imageHolds: true };
    f.bits |= 1n << BigInt(c.bit);
    // x87 and SSE live in the legacy area; other components need a field in the image.
    f.imageHolds &&= c.bit < 2 || c.field !== undefined;
    out.set(c.feature, f);
  }
  return [...out.values()];
}

/** The feature names enabled in `xcr0`, for the xsave line. */
export function xcr0Names(xcr0: bigint): string[] {
  return userFeatures().filter((f) => (xcr0 & f.bits) === f.bits).map((f) => f.feature);
}

/** One line per user feature beyond x87/SSE, and the xsave line, from XCR0 (pure: unit-tested). */
export function xsaveLines(xcr0: bigint, areaSize?: number): CpuFeatureLine[] {
  const size = areaSize === undefined ? '' : `, ${areaSize}-byte area`;
  const lines = [ok('xsave', `XCR0 ${hex(xcr0)}${size}: ${xcr0Names(xcr0).join(', ')}`)];
  for (const f of userFeatures()) {
    if ((f.bits & 0b11n) !== 0n) continue; // x87, SSE: always there
    const has = (xcr0 & f.bits) === f.bits;
    if (!has && !f.imageHolds) continue; // nobody's image can need it
    if (!has) {
      lines.push(missing(f.feature, `this CPU does not offer it: tasks that used it where they were dumped cannot be restored here`));
    } else if (!f.imageHolds) {
      lines.push(ok(f.feature, 'CRIU\'s image format has no place for its registers: a task that uses it cannot be dumped'));
    } else {
      lines.push(ok(f.feature));
    }
  }
  return lines;
}

/** The report for the CPU behind `probe`. */
export function cpuReport(probe: CpuProbe | undefined): CpuFeatureLine[] {
  if (!probe?.cpuid || !probe.xgetbv) return [missing('xsave', 'the sys layer offers no cpuid here: cryo cannot tell the CPU\'s xsave features')];
  try {
    return xsaveLines(probe.xgetbv(0), probe.cpuid(0xd, 0).ebx >>> 0);
  } catch (e) {
    return [missing('xsave', 'the kernel did not enable XSAVE: only x87/SSE state can be saved', e)];
  }
}
