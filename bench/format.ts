// Text forms of bench results: times, sizes, ratios and an aligned table.

import type { Summary } from './stats.js';

const DASH = '-';

function num(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** "371 (350-390)": the median and the spread, in the summary's own unit scaled by `scale`. */
export function formatSummary(s: Summary | null | undefined, scale = 1): string {
  if (!s) return DASH;
  const m = num(s.median * scale);
  if (s.n === 1 || s.min === s.max) return m;
  return `${m} (${num(s.min * scale)}-${num(s.max * scale)})`;
}

/** "1.23x"; "-" when there is nothing to compare. */
export function formatRatio(r: number | null | undefined): string {
  if (r === null || r === undefined || !Number.isFinite(r)) return DASH;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}x`;
}

export const MiB = 1024 * 1024;

/** Columns padded to their widest cell; numbers (cells starting with a digit) right-aligned. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const right = header.map((_, c) => rows.length > 0 && rows.every((r) => /^[\d-]/.test(r[c] ?? DASH)));
  const line = (r: readonly string[]) =>
    r.map((cell, c) => (right[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
