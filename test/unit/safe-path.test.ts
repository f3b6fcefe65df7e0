// The pure part of src/sys/safe-path.ts: which paths restore takes from an image as they are.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { notCleanAbsolute } from '../../src/sys/safe-path.js';

test('clean absolute paths pass; relative, dotted, doubled, trailing-slash and NUL paths are named', () => {
  for (const ok of ['/', '/tmp', '/tmp/a b/c.sock', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/a/..b/c.']) assert.equal(notCleanAbsolute(ok), undefined, ok);
  assert.equal(notCleanAbsolute('tmp/x'), 'it is not absolute');
  assert.equal(notCleanAbsolute('./x'), 'it is not absolute');
  assert.equal(notCleanAbsolute(''), 'it is not absolute');
  for (const bad of ['/tmp/../etc/passwd', '/tmp/./x', '//tmp/x', '/tmp//x', '/tmp/x/', '/..']) {
    assert.match(notCleanAbsolute(bad) ?? '', /not normalized/, bad);
  }
  assert.equal(notCleanAbsolute('/tmp/x\0y'), 'it holds a NUL byte');
});
