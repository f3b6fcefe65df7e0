import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { decodePagemapEntry, pagemapEntries, pagemapRuns } from '../../src/proc/index.js';
import { repoRoot } from '../helpers/paths.js';

const START = 0x7e0000000000n;

test('pagemap: captured sample (pages 0,1,2,5,10,11 touched) gives three runs', () => {
  const buf = readFileSync(path.join(repoRoot, 'test/unit/fixtures/proc/pagemap-16pages.bin'));
  const runs = pagemapRuns(buf, START, 4096);
  assert.deepEqual(
    runs.map((r) => [r.start - START, r.pages, r.present, r.exclusive, r.file, r.swapped]),
    [
      [0n, 3, true, true, false, false],
      [5n * 4096n, 1, true, true, false, false],
      [10n * 4096n, 2, true, true, false, false],
    ],
  );
  const e = pagemapEntries(buf);
  assert.equal(e.length, 16);
  assert.equal(e[0]!.pfn, 0x117e38n);
  assert.equal(e[3]!.present, false);
  assert.equal(e[3]!.pfn, null);
});

function entries(values: bigint[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((v, i) => b.writeBigUInt64LE(v, i * 8));
  return b;
}

test('pagemap: runs split on flag changes and merge across chunks', () => {
  const P = 1n << 63n, S = 1n << 62n, F = 1n << 61n, X = 1n << 56n;
  const buf = entries([P | X | 1n, P | X | 2n, P | F | 3n, 0n, S | (7n << 5n) | 2n, S | (8n << 5n) | 2n]);
  const runs = pagemapRuns(buf.subarray(0, 16), 0x1000n, 4096);
  pagemapRuns(buf.subarray(16), 0x3000n, 4096, runs);
  assert.deepEqual(
    runs.map((r) => [r.start, r.pages, r.present, r.swapped, r.file, r.exclusive]),
    [
      [0x1000n, 2, true, false, false, true],
      [0x3000n, 1, true, false, true, false],
      [0x5000n, 2, false, true, false, false],
    ],
  );
  const sw = decodePagemapEntry(S | (8n << 5n) | 2n);
  assert.deepEqual([sw.swapType, sw.swapOffset, sw.pfn], [2, 8n, null]);
  const sd = decodePagemapEntry(P | (1n << 55n) | (1n << 58n));
  assert.deepEqual([sd.softDirty, sd.guard, sd.uffdWp], [true, true, false]);
});

test('pagemap: equal flags with a hole between them are two runs', () => {
  const P = 1n << 63n;
  const runs = pagemapRuns(entries([P, 0n, P]), 0n, 4096);
  assert.deepEqual(runs.map((r) => [r.start, r.pages]), [[0n, 1], [0x2000n, 1]]);
});

test('pagemap: a guard region (swapped with the guard bit) is no page', () => {
  const P = 1n << 63n, S = 1n << 62n, G = 1n << 58n;
  const runs = pagemapRuns(entries([P, S | G, S | G, S | (7n << 5n)]), 0n, 4096);
  assert.deepEqual(runs.map((r) => [r.start, r.pages, r.swapped]), [[0n, 1, false], [0x3000n, 1, true]]);
});
