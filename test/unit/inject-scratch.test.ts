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

test('the same hole as a sort of the whole list would give: areas above the ceiling, equal starts, a few areas appended out of order', () => {
  // The search over a stable sort of the areas under the ceiling (what findHole must equal).
  const reference = (maps: Vma[], size: bigint, ceiling: bigint, floor: bigint): bigint | undefined => {
    const sorted = maps.filter((v) => v.end <= ceiling).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    for (let i = sorted.length - 1; i >= 0; i--) {
      const lo = i > 0 ? sorted[i - 1]!.end : floor;
      const hi = sorted[i]!.start;
      if (hi >= lo + size + 2n * P && hi - P - size >= floor) return hi - P - size;
    }
    return undefined;
  };
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 48271) % 2147483647) % n; // MINSTD: exact in doubles
  for (let round = 0; round < 300; round++) {
    const maps: Vma[] = [];
    let at = 0x10000 + rand(4) * 0x1000;
    for (let i = rand(40); i > 0; i--) {
      const len = (1 + rand(3)) * 0x1000;
      maps.push(vma(at, at + len));
      at += len + rand(3) * 0x1000; // side by side, or a hole of one or two pages
    }
    // cryo's areas after them, anywhere; one above the ceiling ([vsyscall]); one starting where another does.
    for (let i = rand(4); i > 0; i--) maps.push(vma(0x10000 + rand(60) * 0x1000, 0x10000 + (60 + rand(3)) * 0x1000));
    if (rand(2) === 0) maps.push(vma(0x7ff000000000, 0x7ff000001000));
    const ceiling = BigInt(0x10000 + rand(200) * 0x1000);
    const size = BigInt((1 + rand(2)) * 0x1000);
    const want = reference(maps, size, ceiling, 0x10000n);
    if (want === undefined) assert.throws(() => findHole(maps, size, P, ceiling), /no free hole/);
    else assert.equal(findHole(maps, size, P, ceiling), want, `round ${round}`);
  }
});
