// The one rule for tools the tests need from the system: skipped (naming the package) where missing,
// a failure under CI=true, nothing when present.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toolSkip } from '../helpers/required-tool.js';

test('a present tool is no skip, in CI or not', () => {
  assert.equal(toolSkip('crit', true, 'Debian package criu', {}), false);
  assert.equal(toolSkip('crit', true, 'Debian package criu', { CI: 'true' }), false);
});

test('a missing tool is a skip naming its package outside CI, and fails the run under CI=true', () => {
  assert.equal(toolSkip('redis-server', false, 'Debian package redis-server', {}), 'redis-server is not installed (Debian package redis-server)');
  assert.throws(() => toolSkip('redis-server', false, 'Debian package redis-server', { CI: 'true' }),
    /^Error: redis-server is not installed \(Debian package redis-server\): CI requires it/);
});
