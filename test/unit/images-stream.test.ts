// cryo's image stream (src/images/image-stream.ts): a directory of made-up images sent through the
// framing and read back, byte for byte, each image 0600; the framing's integers big-endian on every
// host; every cut of the stream, a damaged record and bytes after the end are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { ImageStreamError, STREAM_MAGIC, readImageStream, writeImageStream } from '../../src/images/image-stream.js';

const scratch = () => mkdtempSync(path.join(os.tmpdir(), 'cryo-stream-unit-'));

async function streamOf(dir: string): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (b: Buffer) => parts.push(b));
  await writeImageStream(dir, out);
  out.end();
  return Buffer.concat(parts);
}

/** Reads `bytes` (delivered in small pieces, as a pipe does) into a new directory; returns it or the error. */
async function read(bytes: Buffer): Promise<{ dir: string; error?: string }> {
  const dir = scratch();
  const pieces = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7));
  try {
    await readImageStream(Readable.from(pieces), dir);
    return { dir };
  } catch (e) {
    if (!(e instanceof ImageStreamError)) throw e;
    return { dir, error: e.message };
  }
}

function images(): string {
  const dir = scratch();
  writeFileSync(path.join(dir, 'core-1.img'), Buffer.from('core bytes'));
  writeFileSync(path.join(dir, 'empty.img'), Buffer.alloc(0));
  writeFileSync(path.join(dir, 'pages-1.img'), Buffer.alloc(3 << 20, 0x5a)); // several chunks
  return dir;
}

test('a directory goes through the stream and comes back byte for byte, each image 0600', async () => {
  const src = images();
  const bytes = await streamOf(src);
  const { dir, error } = await read(bytes);
  assert.equal(error, undefined);
  assert.deepEqual(readdirSync(dir).sort(), readdirSync(src).sort());
  for (const n of readdirSync(src)) {
    assert.ok(readFileSync(path.join(dir, n)).equals(readFileSync(path.join(src, n))), n);
    assert.equal(statSync(path.join(dir, n)).mode & 0o777, 0o600, `${n} is 0600`);
  }
  rmSync(src, { recursive: true });
  rmSync(dir, { recursive: true });
});

test('the framing is big-endian whatever the host: magic, name length, size, end record', async () => {
  const src = scratch();
  writeFileSync(path.join(src, 'a.img'), Buffer.from('xyz'));
  const bytes = await streamOf(src);
  const want = Buffer.concat([
    STREAM_MAGIC,
    Buffer.from([0, 0, 0, 5]), Buffer.from('a.img'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]), Buffer.from('xyz'),
    Buffer.from([0, 0, 0, 0]), Buffer.from([0, 0, 0, 1]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 3]),
  ]);
  assert.deepEqual(bytes, want);
  rmSync(src, { recursive: true });
});

test('every cut of the stream is refused; so are a damaged record and bytes after the end', async () => {
  const src = scratch();
  writeFileSync(path.join(src, 'a.img'), Buffer.from('xyz'));
  writeFileSync(path.join(src, 'b.img'), Buffer.from('0123456789'));
  const bytes = await streamOf(src);
  for (let n = 0; n < bytes.length; n++) {
    const { dir, error } = await read(bytes.subarray(0, n));
    assert.match(error ?? 'accepted', n === 0 ? /is empty/ : n < 8 ? /not a cryo image stream/ : /cut short/, `cut at ${n}`);
    rmSync(dir, { recursive: true });
  }
  const cases: [string, Buffer, RegExp][] = [
    ['a name with a slash', Buffer.from(bytes).fill('/', 13, 14), /damaged at byte 8: an image named "a\/img"/],
    ['a size off by one', (() => { const b = Buffer.from(bytes); b[24] = 4; return b; })(), /damaged|end record counts/],
    ['the end record counting another image', (() => { const b = Buffer.from(bytes); b[b.length - 9] = 3; return b; })(), /end record counts 3 images/],
    ['a byte after the end', Buffer.concat([bytes, Buffer.from([0])]), /goes on after its end record/],
    ['another magic', Buffer.concat([Buffer.from('CRYOSTM2'), bytes.subarray(8)]), /not a cryo image stream/],
  ];
  for (const [what, b, re] of cases) {
    const { dir, error } = await read(b);
    assert.match(error ?? 'accepted', re, what);
    rmSync(dir, { recursive: true });
  }
  rmSync(src, { recursive: true });
});

test('a dump directory with a link (a chain\'s parent) is not streamed', async () => {
  const src = images();
  symlinkSync('../elsewhere', path.join(src, 'parent'));
  await assert.rejects(streamOf(src), /parent is not a regular file/);
  rmSync(src, { recursive: true });
});
