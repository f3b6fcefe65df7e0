// Address ranges [start, end) as dump and restore both cut them: pages left to a parent dump,
// areas a restore must not map over.

export interface Range { start: bigint; end: bigint }

/** [start, end) less each of `holes`, as the ranges left in address order. */
export function withoutRanges(start: bigint, end: bigint, holes: readonly Range[]): Range[] {
  let parts: Range[] = [{ start, end }];
  for (const h of holes) {
    parts = parts.flatMap((p) => {
      if (h.end <= p.start || h.start >= p.end) return [p];
      const out: Range[] = [];
      if (h.start > p.start) out.push({ start: p.start, end: h.start });
      if (h.end < p.end) out.push({ start: h.end, end: p.end });
      return out;
    });
  }
  return parts;
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
