// The manifest's hashes: the addon's BLAKE3 against the official test vectors (directly, over
// pieces of a file, and on the hasher thread), and a manifest written by cryo before BLAKE3
// (SHA-256, test/fixtures/manifest-sha256) still read, checked, and able to fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, cpSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { DIGEST_BLAKE3, native } from '../../src/sys/native.js';
import { MANIFEST_HASH, checkManifest, computeManifest, cryo_manifest_entry, CRYO_MANIFEST_IMAGE, CRYO_MANIFEST_MAGIC, pieceMatches, readManifest, writeManifest } from '../../src/images/cryo-manifest.js';
import { readCryoImage, writeCryoImage } from '../../src/images/cryo-framing.js';
import { ImagesInWorker } from '../../src/images/manifest-worker.js';
import { HashAhead } from '../../src/images/hash-ahead.js';
import { repoRoot } from '../helpers/paths.js';

/**
 * BLAKE3's official test vectors (test_vectors/test_vectors.json of the BLAKE3 repository): the
 * input is `len` bytes 0, 1, ..., 250, 0, 1, ...; the hash is the first 32 bytes of the output.
 * Lengths around the 1 KiB chunk and the 64-byte block, and 100 chunks (the SIMD paths: 4, 8, 16 chunks at once).
 */
const VECTORS: [number, string][] = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [2048, 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a'],
  [2049, '5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030'],
  [3072, 'b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2'],
  [3073, '7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3'],
  [4096, '015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969'],
  [4097, '9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995'],
  [5120, '9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833'],
  [5121, '628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff'],
  [6144, '3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205'],
  [6145, 'f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f'],
  [7168, '61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a'],
  [7169, 'a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817'],
  [8193, 'bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b'],
  [16384, 'f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4'],
  [31744, '62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47'],
  [102400, 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
];

/** Written by cryo before BLAKE3 (see its README). */
const fixture = path.join(repoRoot, 'test', 'fixtures', 'manifest-sha256');

const input = (len: number) => Buffer.from(Array.from({ length: len }, (_, i) => i % 251));

test('BLAKE3 (the addon, official C code): the official test vectors; a changed byte changes the digest', () => {
  for (const [len, hex] of VECTORS) assert.equal(native().digest(DIGEST_BLAKE3, input(len))!.toString('hex'), hex, `${len} bytes`);
  const edited = input(102400);
  edited[50000] ^= 1;
  assert.notEqual(native().digest(DIGEST_BLAKE3, edited)!.toString('hex'), VECTORS.at(-1)![1]);
});

test('BLAKE3 over pieces of a file (digestPieces, and the hasher thread): the same vectors, in order', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-blake3-'));
  try {
    const file = path.join(dir, 'f');
    const lengths = Uint32Array.from(VECTORS.filter(([len]) => len > 0), ([len]) => len);
    writeFileSync(file, Buffer.concat([...lengths].map(input)));
    const want = [...VECTORS.filter(([len]) => len > 0).map(([, hex]) => hex)];
    const out = Buffer.alloc(lengths.length * 32);
    const fd = openSync(file, 'r');
    try {
      assert.equal(native().digestPieces(DIGEST_BLAKE3, fd, 0, lengths, out), lengths.length);
    } finally {
      closeSync(fd);
    }
    assert.deepEqual(lengths.reduce<string[]>((a, _, i) => [...a, out.subarray(i * 32, i * 32 + 32).toString('hex')], []), want);
    const ahead = HashAhead.start()!;
    try {
      const f = ahead.file(file, DIGEST_BLAKE3);
      ahead.add(f, 0, lengths.subarray(0, 10));
      ahead.add(f, lengths.subarray(0, 10).reduce((a, n) => a + n, 0), lengths.subarray(10));
      const got = ahead.digests();
      assert.deepEqual(lengths.reduce<string[]>((a, _, i) => [...a, got.subarray(i * 32, i * 32 + 32).toString('hex')], []), want);
    } finally {
      ahead.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a dump\'s manifest is BLAKE3: each entry\'s digests in the blake3 field, each piece\'s digest its bytes\' BLAKE3', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-blake3-'));
  try {
    cpSync(fixture, dir, { recursive: true });
    writeManifest(dir);
    assert.equal(MANIFEST_HASH, 'blake3');
    const raw = readCryoImage(path.join(dir, CRYO_MANIFEST_IMAGE), CRYO_MANIFEST_MAGIC, cryo_manifest_entry, 'cryo-manifest')!;
    assert.ok(raw.every((v) => v.sha256 === undefined && Buffer.isBuffer(v.blake3)), 'the blake3 field, not sha256');
    for (const e of readManifest(dir)!) {
      const bytes = readFileSync(path.join(dir, e.name));
      assert.equal(e.alg, 'blake3');
      e.pieces.forEach((p, i) => assert.deepEqual(e.digests[i], native().digest(DIGEST_BLAKE3, bytes.subarray(p.offset, p.offset + p.length)), `${e.name} piece ${i}`));
    }
    assert.deepEqual(checkManifest(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// cryo's images are in the byte order of the machine that wrote them (as CRIU's): the fixture is an
// x86_64 dump. test/e2e/images-manifest.test.ts checks an old-format manifest on every architecture.
const notLittleEndian = os.endianness() === 'LE' ? false : 'the fixture was written on a little-endian machine';

test('a manifest written before BLAKE3 (SHA-256, the fixture): read as SHA-256, checked, an edited page refused naming the bytes and the run', { skip: notLittleEndian }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-sha256-manifest-'));
  try {
    cpSync(fixture, dir, { recursive: true });
    rmSync(path.join(dir, 'README.md'));
    const m = readManifest(dir)!;
    assert.deepEqual(m.map((e) => [e.name, e.alg]), [['core-7.img', 'sha256'], ['pagemap-7.img', 'sha256'], ['pages-1.img', 'sha256']]);
    const pages = m.find((e) => e.name === 'pages-1.img')!;
    const bytes = readFileSync(path.join(dir, 'pages-1.img'));
    assert.deepEqual(pages.digests[1], createHash('sha256').update(bytes.subarray(8192)).digest(), 'the SHA-256 of the run at 0x400000');
    assert.equal(pieceMatches(pages, 1, bytes.subarray(8192)), true);
    assert.deepEqual(checkManifest(dir), []);
    const file = path.join(dir, 'pages-1.img');
    assert.deepEqual(await new ImagesInWorker([{ file, entry: pages }]).result, []);

    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([bytes[8197]! ^ 1]), 0, 1, 8197);
    closeSync(fd);
    const named = `${file}: bytes 8192-20479 (pages from 0x400000) differ from what the dump wrote (SHA-256)`;
    assert.deepEqual(checkManifest(dir), [named]);
    assert.deepEqual(await new ImagesInWorker([{ file, entry: pages }]).result, [named]);
    assert.equal(pieceMatches(pages, 1, readFileSync(file).subarray(8192)), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an entry with digests of both algorithms is damaged', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-blake3-'));
  try {
    writeFileSync(path.join(dir, 'core-7.img'), input(100));
    const e = computeManifest(dir)[0]!;
    const d = Buffer.concat(e.digests);
    writeCryoImage(path.join(dir, CRYO_MANIFEST_IMAGE), CRYO_MANIFEST_MAGIC, cryo_manifest_entry, [{ name: e.name, size: 100n, lengths: [100], sha256: d, blake3: d }]);
    assert.throws(() => readManifest(dir), /cryo-manifest\.img is damaged \(core-7\.img: digests of two algorithms\): the images cannot be checked; dump again/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
