import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSize, showSize, sizeAtLeast } from '../../src/shared/size.js';

test('sizes as CRIU takes them: bytes, or K, M, G as powers of 1024; anything else is no size', () => {
  assert.equal(parseSize('4096'), 4096n);
  assert.equal(parseSize('1K'), 1024n);
  assert.equal(parseSize('1M'), 1n << 20n);
  assert.equal(parseSize('3G'), 3n << 30n);
  for (const bad of ['', 'M', '1.5M', '1m', '-1', '1MB', '1 M', '0x10']) assert.equal(parseSize(bad), undefined, bad);
});

test('sizes shown in the largest unit they are whole in, and rounded up to one', () => {
  assert.equal(showSize(1n << 20n), '1M');
  assert.equal(showSize(1280n << 10n), '1280K');
  assert.equal(showSize(1000n), '1000');
  assert.equal(showSize(0n), '0');
  assert.equal(sizeAtLeast((2n << 20n) + 8192n), '3M');
  assert.equal(sizeAtLeast(2n << 20n), '2M');
  assert.equal(sizeAtLeast(1500n), '2K');
  assert.equal(sizeAtLeast(1000n), '1000');
  for (const n of [1n, 1023n, 1025n, (1n << 30n) + 1n]) assert.ok(parseSize(sizeAtLeast(n))! >= n, String(n));
});
