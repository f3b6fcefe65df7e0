// Soft-dirty write tracking's pure part: pagemap entries (bit 55) to the ranges of pages written.
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { test } from 'node:test';
import { pagemapRuns } from '../../src/proc/index.js';
import { softDirtyRanges } from '../../src/dump/soft-dirty.js';

const START = 0x7e0000000000n;
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const SOFT_DIRTY = 1n << 55n;
const EXCLUSIVE = 1n << 56n;
const FILE = 1n << 61n;

/** Raw pagemap bytes in this machine's byte order (as the kernel writes them). */
function entries(values: bigint[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => (endianness() === 'LE' ? b.writeBigUInt64LE(v, i * 8) : b.writeBigUInt64BE(v, i * 8)));
  return b;
}

test('soft-dirty ranges: bit 55 of present and swapped pages, adjacent pages merged, clean and absent pages left out', () => {
  const buf = entries([
    PRESENT | EXCLUSIVE | SOFT_DIRTY | 0x1234n, PRESENT | EXCLUSIVE | SOFT_DIRTY | 0x99n, // 0-1 written (flags the same: one run)
    PRESENT | EXCLUSIVE | 0x55n, // 2 clean
    SWAPPED | SOFT_DIRTY | (7n << 5n), // 3 written, then swapped out
    PRESENT | EXCLUSIVE | SOFT_DIRTY, // 4 written: 3-4 are one range (different flags, adjacent)
    SOFT_DIRTY, // 5 absent (a VM_SOFTDIRTY VMA's hole): no page, nothing to dump
    PRESENT | EXCLUSIVE | SOFT_DIRTY, // 6
    PRESENT | EXCLUSIVE, SWAPPED | (3n << 5n), // 7-8 clean, one of them swapped out
    PRESENT | FILE, // 9 a file's page of a private file mapping, not written
  ]);
  const ranges = softDirtyRanges(pagemapRuns(buf, START, 4096), 4096);
  assert.deepEqual(ranges.map((r) => [Number((r.start - START) / 4096n), Number((r.end - START) / 4096n)]), [[0, 2], [3, 5], [6, 7]]);
});

test('soft-dirty ranges: a present anonymous page not exclusive to the process (the zero page after MADV_DONTNEED and a read) counts as written', () => {
  const buf = entries([PRESENT | EXCLUSIVE, PRESENT, PRESENT | EXCLUSIVE]);
  assert.deepEqual(softDirtyRanges(pagemapRuns(buf, START, 4096), 4096), [{ start: START + 4096n, end: START + 2n * 4096n }]);
});

test('soft-dirty ranges: the page size is the kernel\'s (64 KiB pages on ppc64le 6.1)', () => {
  const ranges = softDirtyRanges(pagemapRuns(entries([PRESENT | EXCLUSIVE, PRESENT | EXCLUSIVE | SOFT_DIRTY, PRESENT | EXCLUSIVE | SOFT_DIRTY]), START, 65536), 65536);
  assert.deepEqual(ranges, [{ start: START + 65536n, end: START + 3n * 65536n }]);
});

test('soft-dirty ranges: without the bit (a kernel without CONFIG_MEM_SOFT_DIRTY) nothing is written', () => {
  assert.deepEqual(softDirtyRanges(pagemapRuns(entries([PRESENT | EXCLUSIVE, PRESENT | EXCLUSIVE, SWAPPED]), START, 4096), 4096), []);
});
