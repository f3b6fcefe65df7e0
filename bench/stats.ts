// Statistics of a bench measurement: N samples -> median and spread (min..max).

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new RangeError('median of no samples');
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** null when there is no sample (the tool was skipped or failed every time). */
export function summarize(xs: readonly number[]): Summary | null {
  if (xs.length === 0) return null;
  return { n: xs.length, median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** Ratio of two medians (a / b); null when either is missing or b is not positive. */
export function ratio(a: Summary | null | undefined, b: Summary | null | undefined): number | null {
  if (!a || !b || !(b.median > 0)) return null;
  return a.median / b.median;
}
