// inAddressOrder: lists of ranges sorted by their start only when they are out of order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inAddressOrder, rangeStart } from '../../src/proc/index.js';

const r = (start: number) => ({ start: BigInt(start), end: BigInt(start + 0x1000) });

test('a list in order is returned as it is, not copied', () => {
  const list = [r(0x1000), r(0x3000), r(0x3000), r(0x9000)];
  const same = list.slice();
  assert.equal(inAddressOrder(list, rangeStart), list);
  assert.deepEqual(list, same);
});

test('a list out of order is sorted in place, equal starts kept', () => {
  const list = [r(0x9000), r(0x1000), r(0x3000), r(0x2000), r(0x1000)];
  assert.deepEqual(inAddressOrder(list, rangeStart).map((x) => x.start), [0x1000n, 0x1000n, 0x2000n, 0x3000n, 0x9000n]);
});

test('any key: pairs by their first element, starts above 2^63', () => {
  const top = 0xffffffffff600000n;
  const pairs: [bigint, bigint][] = [[top, top + 0x1000n], [0x400000n, 0x401000n]];
  assert.deepEqual(inAddressOrder(pairs, (p) => p[0]).map((p) => p[0]), [0x400000n, top]);
});

test('a long list in order with a few out of order after it: merged as a full sort would', () => {
  // 200 ranges in order, then 5 (cryo's own areas) anywhere, one of them equal to a listed start.
  const list = Array.from({ length: 200 }, (_, i) => ({ ...r(0x10000 + i * 0x2000), tag: `a${i}` }));
  const extra = [0xfff0000, 0x5000, 0x10000 + 7 * 0x2000, 0x10000 + 199 * 0x2000 + 0x1000, 0x11000].map((s, i) => ({ ...r(s), tag: `x${i}` }));
  const all = [...list, ...extra];
  const want = all.slice().sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0)).map((x) => x.tag);
  assert.deepEqual(inAddressOrder(all, rangeStart).map((x) => x.tag), want);
  assert.equal(want.indexOf('a7') + 1, want.indexOf('x2')); // the equal start after the listed one
});
