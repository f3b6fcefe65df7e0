// Which pages of a pagemap run restore writes: a run may start in the kernel's own vdso (not
// written) and go on into the next mapping (arm64 puts ld.so's relro and data right above the
// vdso), whose pages must still be written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutRanges } from '../../src/shared/ranges.js';

const r = (start: number, end: number) => ({ start: BigInt(start), end: BigInt(end) });

test('a run starting in the vdso keeps the pages after it', () => {
  // [vdso] 0x8000-0xa000, then ld.so 0xa000-0xe000, all in one run.
  assert.deepEqual(withoutRanges(0x8000n, 0xe000n, [r(0x8000, 0xa000)]), [r(0xa000, 0xe000)]);
});

test('a run around a hole keeps both sides; a run inside one keeps nothing; an untouched run stays whole', () => {
  assert.deepEqual(withoutRanges(0x1000n, 0x9000n, [r(0x3000, 0x5000)]), [r(0x1000, 0x3000), r(0x5000, 0x9000)]);
  assert.deepEqual(withoutRanges(0x3000n, 0x4000n, [r(0x2000, 0x5000)]), []);
  assert.deepEqual(withoutRanges(0x1000n, 0x2000n, [r(0x2000, 0x5000), r(0, 0x1000)]), [r(0x1000, 0x2000)]);
  assert.deepEqual(withoutRanges(0x1000n, 0x9000n, [r(0x2000, 0x3000), r(0x6000, 0x7000)]), [r(0x1000, 0x2000), r(0x3000, 0x6000), r(0x7000, 0x9000)]);
});

test('thousands of holes, unsorted and overlapping, as a page-by-page reference cuts them (one sweep: a task that wrote 10k scattered pages)', () => {
  const pages = 50_000;
  let x = 7;
  const rnd = () => (x = (x * 1103515245 + 12345) % 2147483648) % pages;
  const holes = Array.from({ length: 20_000 }, () => { const s = rnd(); return r(s * 4096, (s + 1 + (rnd() % 3)) * 4096); });
  const hole = new Uint8Array(pages);
  for (const h of holes) for (let p = Number(h.start) / 4096; p < Number(h.end) / 4096 && p < pages; p++) hole[p] = 1;
  const want: { start: bigint; end: bigint }[] = [];
  for (let p = 0; p < pages; p++) {
    if (hole[p]) continue;
    const last = want[want.length - 1];
    if (last && last.end === BigInt(p * 4096)) last.end += 4096n; else want.push(r(p * 4096, (p + 1) * 4096));
  }
  const t0 = performance.now();
  assert.deepEqual(withoutRanges(0n, BigInt(pages * 4096), holes), want);
  assert.ok(performance.now() - t0 < 2000, 'not quadratic');
});
