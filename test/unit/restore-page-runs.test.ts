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
