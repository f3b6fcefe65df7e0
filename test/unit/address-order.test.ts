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
