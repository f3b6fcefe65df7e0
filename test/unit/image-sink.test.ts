// FileSink (src/images/image.ts) starts with a small buffer and grows it with the image: bytes
// written in pieces of every size land in the file whole and in order. precreateImageFiles:
// files made ahead are taken by createImageFile, the unused ones removed.

import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { FileSink, createImageFile, precreateImageFiles } from '../../src/images/image.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'cryo-sink-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('FileSink: pieces of 1 byte to 3 MiB land whole and in order', () => {
  const file = path.join(tmp, 'sink');
  const fd = openSync(file, 'w');
  const sink = new FileSink(fd);
  const parts: Buffer[] = [];
  let seed = 1;
  for (const len of [1, 7, 5000, 16 << 10, 100, 70_000, 1, (1 << 20) - 3, 3 << 20, 12, 900_000, 2_000_000, 5]) {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    parts.push(b);
    sink.write(b);
  }
  sink.flush();
  closeSync(fd);
  assert.ok(readFileSync(file).equals(Buffer.concat(parts)), 'the file holds every piece, in order');
});

test('precreateImageFiles: taken files are the ones written, 0600; unused ones are removed; an old file is left to createImageFile', async () => {
  const dir = path.join(tmp, 'pre');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(path.join(dir, 'old.img'), 'old contents', { mode: 0o644 });
  const pre = precreateImageFiles(['a.img', 'b.img', 'old.img'].map((n) => path.join(dir, n)));
  await pre.settled;
  const fd = createImageFile(path.join(dir, 'a.img'));
  closeSync(fd);
  const old = createImageFile(path.join(dir, 'old.img'));
  closeSync(old);
  pre.dropUnused();
  assert.deepEqual(readdirSync(dir).sort(), ['a.img', 'old.img']);
  assert.equal(statSync(path.join(dir, 'a.img')).mode & 0o777, 0o600);
  assert.equal(statSync(path.join(dir, 'old.img')).size, 0, 'the old image is truncated when written');
  assert.equal(statSync(path.join(dir, 'old.img')).mode & 0o777, 0o600);
  assert.ok(!existsSync(path.join(dir, 'b.img')));
});
