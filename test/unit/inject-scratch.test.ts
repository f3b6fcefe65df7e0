// findHole: where cryo's scratch page goes (a free page on both sides, so it never merges).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findHole } from '../../src/inject/scratch.js';
import type { Vma } from '../../src/proc/index.js';

const vma = (start: number, end: number) => ({ start: BigInt(start), end: BigInt(end) }) as Vma;
const P = 0x1000n;
/** x86_64's mmapTop. */
const TOP = 1n << 47n;

test('the highest hole with a guard page on each side', () => {
  const maps = [vma(0x10000, 0x20000), vma(0x23000, 0x30000), vma(0x40000, 0x50000)];
  assert.equal(findHole(maps, P, P, TOP), 0x40000n - P - P);
});

test('a hole too small for page + 2 guards is skipped', () => {
  const maps = [vma(0x10000, 0x20000), vma(0x22000, 0x30000)];
  // 0x20000..0x22000 holds two pages only: the scratch page goes below 0x10000 instead.
  assert.equal(findHole(maps, P, P, TOP, 0x1000n), 0x10000n - P - P);
});

test('no room at all is an error', () => {
  assert.throws(() => findHole([vma(0x10000, 0x7fffffff0000)], P, P, 0x7fffffff0000n, 0x10000n), /no free hole/);
});

test('maps out of order are put in order first (the same hole as in order)', () => {
  const inOrder = [vma(0x10000, 0x20000), vma(0x23000, 0x30000), vma(0x40000, 0x50000)];
  const shuffled = [inOrder[2]!, inOrder[0]!, inOrder[1]!];
  assert.equal(findHole(shuffled, P, P, TOP), findHole(inOrder, P, P, TOP));
  assert.deepEqual(shuffled.map((v) => v.start), [0x40000n, 0x10000n, 0x23000n], 'the caller\'s list is left as it was');
});
