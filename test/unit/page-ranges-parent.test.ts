// The range arithmetic of incremental dumps: runs cut into pieces left to the parent and pieces
// written, and the intersection of sorted range lists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitByRanges } from '../../src/dump/memory.js';
import { intersect } from '../../src/shared/ranges.js';

const P = 4096n;
const r = (a: number, b: number) => ({ start: BigInt(a) * P, end: BigInt(b) * P });
const show = (xs: { run: { start: bigint; pages: number }; inside: boolean }[]) =>
  xs.map((x) => `${x.inside ? 'P' : 'W'}${x.run.start / P}+${x.run.pages}`).join(' ');

test('a run is cut at the edges of the ranges left to the parent', () => {
  const run = { start: 10n * P, pages: 10, file: false };
  assert.equal(show(splitByRanges(run, [], P)), 'W10+10');
  assert.equal(show(splitByRanges(run, [r(0, 100)], P)), 'P10+10');
  assert.equal(show(splitByRanges(run, [r(0, 12), r(14, 15), r(19, 30)], P)), 'P10+2 W12+2 P14+1 W15+4 P19+1');
  assert.equal(show(splitByRanges(run, [r(0, 5), r(25, 30)], P)), 'W10+10');
});

test('intersection of sorted range lists', () => {
  const s = (xs: { start: bigint; end: bigint }[]) => xs.map((x) => `${x.start / P}-${x.end / P}`).join(' ');
  assert.equal(s(intersect([r(0, 10), r(20, 30)], [r(5, 25)])), '5-10 20-25');
  assert.equal(s(intersect([r(0, 10)], [])), '');
  assert.equal(s(intersect([r(0, 4), r(6, 8)], [r(0, 2), r(3, 7)])), '0-2 3-4 6-7');
});
