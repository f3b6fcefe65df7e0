// Restoring onto a kernel whose vDSO differs from the dumped one: the task's code (libc) holds
// pointers to the old entry points, so the old vDSO's bytes go back where the task had them and
// each entry point is patched to jump to the same-named function of this kernel's vDSO (which the
// task gets too, mapped elsewhere, so that the kernel's own uses of it, such as the signal return
// trampoline, find the real one). Pure code: the plan from the two images, then the patched bytes.

import type { VdsoTrampoline } from '../arch/types.js';
import { elfFunctions, elfLookupRanges } from './vdso-symbols.js';

/** One patched entry point: its offset in the old vDSO, the new vDSO's offset of the same name. */
export interface VdsoEntry { names: string[]; at: number; to: number }

export interface VdsoPlan {
  entries: VdsoEntry[];
  /** Offset in the old vDSO of the trampoline's shared code (when it has any). */
  shared?: number;
}

const hex = (v: number) => `0x${v.toString(16)}`;

/**
 * Which entry points of `dumped` jump where in `mine`, and where the shared code goes. Throws a
 * one-line reason when it cannot be done: a function `mine` lacks, an entry too small to patch.
 */
export function planVdsoTrampoline(dumped: Buffer, mine: Buffer, tr: VdsoTrampoline): VdsoPlan {
  const old = elfFunctions(dumped).filter((f) => !tr.kernelOnly.includes(f.name));
  const here = new Map<string, number>();
  for (const f of elfFunctions(mine)) if (!here.has(f.name)) here.set(f.name, f.offset);
  const byOffset = new Map<number, VdsoEntry>();
  for (const f of old) {
    const to = here.get(f.name);
    if (to === undefined) {
      throw new Error(`this kernel's vDSO has no ${f.name}, which the dumped task's vDSO offers (the task may call it): restore on a kernel whose vDSO has it`);
    }
    const e = byOffset.get(f.offset);
    if (e === undefined) byOffset.set(f.offset, { names: [f.name], at: f.offset, to });
    else if (e.to === to) e.names.push(f.name);
    else throw new Error(`the dumped vDSO's ${e.names[0]} and ${f.name} are one function, this kernel's are two: cryo cannot tell which to jump to`);
  }
  const entries = [...byOffset.values()].sort((a, b) => a.at - b.at);
  // Each patch must end before the next entry point (any function, patched or not) and the bytes a
  // name lookup reads; the shared code goes after the patch with the most room left.
  const starts = elfFunctions(dumped).map((f) => f.offset);
  const lookup = elfLookupRanges(dumped);
  const room = (at: number) => {
    let end = dumped.length;
    for (const s of starts) if (s > at && s < end) end = s;
    for (const r of lookup) {
      if (r.start <= at && r.end > at) return 0;
      if (r.start > at && r.start < end) end = r.start;
    }
    return end - at;
  };
  let best: { at: number; free: number } | undefined;
  for (const e of entries) {
    const free = room(e.at) - tr.entrySize;
    if (free < 0) throw new Error(`the dumped vDSO's ${e.names[0]} at ${hex(e.at)} has ${room(e.at)} bytes before the next entry, ${tr.entrySize} are needed to patch it`);
    if (best === undefined || free > best.free) best = { at: e.at + tr.entrySize, free };
  }
  if (tr.shared === undefined) return { entries };
  // Aligned to 8 bytes, as instructions and the addresses next to them want.
  const at = best === undefined ? undefined : (best.at + 7) & ~7;
  if (best === undefined || at === undefined || at + tr.shared.length > best.at + best.free) {
    throw new Error(`the dumped vDSO has no ${tr.shared.length} free bytes for the trampoline's shared code`);
  }
  return { entries, shared: at };
}

/** The old vDSO's bytes with every planned entry patched, for `oldBase` jumping into `newBase`. */
export function patchedVdso(dumped: Buffer, plan: VdsoPlan, tr: VdsoTrampoline, oldBase: bigint, newBase: bigint): Buffer {
  const out = Buffer.from(dumped);
  const shared = plan.shared === undefined ? 0n : oldBase + BigInt(plan.shared);
  if (plan.shared !== undefined) tr.shared!.copy(out, plan.shared);
  for (const e of plan.entries) tr.entry(oldBase + BigInt(e.at), newBase + BigInt(e.to), shared).copy(out, e.at);
  return out;
}

/**
 * The patch that overwrites offset `off` of the old vDSO, named, or undefined when its byte stays as
 * it was. A thread resumed there would run half of a patch; one at an entry's first byte runs the
 * whole patch (as a call does), and one in code no patch touches runs the old bytes, which come back.
 */
export function patchOverwriting(plan: VdsoPlan, tr: VdsoTrampoline, off: number): string | undefined {
  for (const e of plan.entries) if (off > e.at && off < e.at + tr.entrySize) return `the patch of ${e.names[0]}`;
  if (plan.shared !== undefined && off >= plan.shared && off < plan.shared + tr.shared!.length) return 'the trampoline\'s shared code';
  return undefined;
}
