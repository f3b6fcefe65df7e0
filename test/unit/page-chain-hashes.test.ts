// The chain check (cryo-parent.json: the parent's memory images as the child was dumped against
// them) with hashes known ahead (hashMemoryImages, as `cryo migrate` does while the task runs): a
// parent altered after it was hashed is still refused, even with its size and mtime put back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkChain, hashMemoryImages, recordParentHashes } from '../../src/images/index.js';

test('checkChain: a parent hashed ahead passes; altered after (same size, mtime put back) it is refused', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'cryo-chain-'));
  try {
    const parent = path.join(root, 'pre');
    const child = path.join(root, 'final');
    mkdirSync(parent);
    mkdirSync(child);
    writeFileSync(path.join(parent, 'pagemap-7.img'), randomBytes(64));
    const pages = path.join(parent, 'pages-1.img');
    const bytes = randomBytes(16 * 4096);
    writeFileSync(pages, bytes);
    symlinkSync('../pre', path.join(child, 'parent'));
    recordParentHashes(child, parent, '../pre');
    hashMemoryImages(parent);
    checkChain(child);
    const mtime = statSync(pages, { bigint: true }).mtimeNs;
    const fd = openSync(pages, 'r+');
    writeSync(fd, Buffer.from([bytes[5000]! ^ 1]), 0, 1, 5000);
    closeSync(fd);
    // The mtime put back to the nanosecond (touch; Node's utimes has no nanoseconds): only ctime tells.
    execFileSync('touch', ['-m', '-d', `@${mtime / 1_000_000_000n}.${String(mtime % 1_000_000_000n).padStart(9, '0')}`, pages]);
    assert.equal(statSync(pages, { bigint: true }).mtimeNs, mtime);
    assert.throws(() => checkChain(child), /pages-1\.img was altered after .*final was dumped against it/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
