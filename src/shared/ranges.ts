// Address ranges [start, end) as dump and restore both cut them: pages left to a parent dump,
// areas a restore must not map over.

import { inAddressOrder, rangeStart } from '../proc/index.js';

export interface Range { start: bigint; end: bigint }

/** [start, end) less each of `holes`, as the ranges left in address order. */
export function withoutRanges(start: bigint, end: bigint, holes: readonly Range[]): Range[] {
  // One sweep over the holes in address order (a task's written pages are thousands of holes).
  const sorted = inAddressOrder([...holes], rangeStart);
  const out: Range[] = [];
  let at = start;
  for (const h of sorted) {
    if (h.start >= end) break;
    if (h.end <= at) continue;
    if (h.start > at) out.push({ start: at, end: h.start });
    at = h.end;
  }
  if (at < end) out.push({ start: at, end });
  return out;
}

/** The intersection of two sorted lists of disjoint ranges. */
export function intersect(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  for (let i = 0, j = 0; i < a.length && j < b.length;) {
    const s = a[i]!.start > b[j]!.start ? a[i]!.start : b[j]!.start;
    const e = a[i]!.end < b[j]!.end ? a[i]!.end : b[j]!.end;
    if (e > s) out.push({ start: s, end: e });
    if (a[i]!.end < b[j]!.end) i++;
    else j++;
  }
  return out;
}
