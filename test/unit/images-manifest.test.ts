// cryo-manifest.img's pure parts: how images are cut into pieces, and a manifest computed and
// checked over a directory of made-up images (a pagemap with runs, its pages, other images).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, truncateSync, renameSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { DIGEST_BLAKE3, DIGEST_SHA256, native } from '../../src/sys/native.js';
import { CRYO_MANIFEST_IMAGE, PAGES_PIECE, blockPieces, checkManifest, computeManifest, pagesImagePieces, readManifest, writeManifest } from '../../src/images/cryo-manifest.js';
import { writeImageFile } from '../../src/images/index.js';
import { PE_PRESENT, PE_PARENT } from '../../src/images/flags.js';

test('blockPieces: consecutive 4 KiB pieces, the last one shorter; none for an empty file', () => {
  assert.deepEqual(blockPieces(0), []);
  assert.deepEqual(blockPieces(10000), [{ offset: 0, length: 4096 }, { offset: 4096, length: 4096 }, { offset: 8192, length: 1808 }]);
  assert.deepEqual(blockPieces(8192, 4096).length, 2);
});

test('pagesImagePieces: PAGES_PIECE long, each with the address of its first page; none where the runs do not tile the file', () => {
  // Runs in pages of 4 KiB: 1 page at 0x1000, 2 not in the file, PAGES_PIECE/4096 + 2 at 0x20000.
  const per = PAGES_PIECE / 4096;
  const runs = {
    count: 3,
    vaddr: BigUint64Array.from([0x1000n, 0x8000n, 0x20000n]),
    nrPages: Float64Array.from([1, 2, per + 2]),
    flags: Uint32Array.from([PE_PRESENT, PE_PARENT, PE_PRESENT]),
    firstPage: Float64Array.from([0, -1, 1]),
  };
  const size = (per + 3) * 4096;
  assert.deepEqual(pagesImagePieces(size, runs), [
    { offset: 0, length: PAGES_PIECE, vaddr: 0x1000n },
    { offset: PAGES_PIECE, length: 12288, vaddr: 0x20000n + BigInt(PAGES_PIECE - 4096) },
  ]);
  assert.deepEqual(pagesImagePieces(size + 1, runs), blockPieces(size + 1, PAGES_PIECE), 'bytes the runs do not account for: no addresses');
  assert.deepEqual(pagesImagePieces(size, undefined), blockPieces(size, PAGES_PIECE));
  assert.deepEqual(pagesImagePieces(0, { ...runs, count: 0 }), []);
});

/** A made-up dump: pagemap-7 (three runs, one in the parent), its pages-1 (4 KiB pages), a core and a JSON record. */
function fakeDump(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-manifest-'));
  writeImageFile(path.join(dir, 'pagemap-7.img'), 'PAGEMAP', [
    { pages_id: 1 },
    { vaddr: 0x10000n, compat_nr_pages: 2, flags: PE_PRESENT, nr_pages: 2n },
    { vaddr: 0x20000n, compat_nr_pages: 4, flags: PE_PARENT, nr_pages: 4n },
    { vaddr: 0x400000n, compat_nr_pages: 100, flags: PE_PRESENT, nr_pages: 100n },
  ]);
  writeFileSync(path.join(dir, 'pages-1.img'), randomBytes(102 * 4096));
  writeFileSync(path.join(dir, 'core-7.img'), randomBytes(9000));
  writeFileSync(path.join(dir, 'cryo-parent.json'), '{}\n');
  writeFileSync(path.join(dir, 'cryo-track.json'), '{}\n'); // not an image: not listed, not refused
  return dir;
}

function flip(file: string, offset: number): void {
  const fd = openSync(file, 'r+');
  writeSync(fd, Buffer.from([readFileSync(file)[offset]! ^ 1]), 0, 1, offset);
  closeSync(fd);
}

test('computeManifest: every image, pages in 256 KiB pieces with their addresses (the page size from the file), others in 4 KiB blocks', () => {
  const dir = fakeDump();
  try {
    const m = computeManifest(dir);
    assert.deepEqual(m.map((e) => e.name), ['core-7.img', 'cryo-parent.json', 'pagemap-7.img', 'pages-1.img']);
    const pages = m.find((e) => e.name === 'pages-1.img')!;
    assert.deepEqual(pages.pieces.map((p) => [p.offset, p.length, p.vaddr]), [
      [0, PAGES_PIECE, 0x10000n], [PAGES_PIECE, 102 * 4096 - PAGES_PIECE, 0x400000n + BigInt(PAGES_PIECE - 8192)],
    ]);
    assert.equal(m.find((e) => e.name === 'core-7.img')!.pieces.length, 3);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('checkManifest: [] as written; each change named by image and bytes; undefined without a manifest', () => {
  const dir = fakeDump();
  try {
    assert.equal(checkManifest(dir), undefined);
    writeManifest(dir);
    assert.deepEqual(readManifest(dir)!.map((e) => e.name).includes(CRYO_MANIFEST_IMAGE), false);
    assert.deepEqual(checkManifest(dir), []);
    flip(path.join(dir, 'core-7.img'), 8999);
    flip(path.join(dir, 'pages-1.img'), PAGES_PIECE + 5);
    assert.deepEqual(checkManifest(dir), [
      `${dir}/core-7.img: bytes 8192-8999 differ from what the dump wrote (BLAKE3)`,
      `${dir}/pages-1.img: bytes ${PAGES_PIECE}-${102 * 4096 - 1} (pages from 0x${(0x400000 + PAGES_PIECE - 8192).toString(16)}) differ from what the dump wrote (BLAKE3)`,
    ]);
    flip(path.join(dir, 'core-7.img'), 8999);
    flip(path.join(dir, 'pages-1.img'), PAGES_PIECE + 5);
    truncateSync(path.join(dir, 'core-7.img'), 5000);
    renameSync(path.join(dir, 'cryo-parent.json'), path.join(dir, 'fs-7.img'));
    assert.deepEqual(checkManifest(dir), [
      `${dir}/core-7.img has 5000 bytes, the dump wrote 9000: it was cut short at byte 5000`,
      `${dir}/cryo-parent.json is missing (the dump wrote it: 3 bytes)`,
      `${dir}/fs-7.img is not in cryo-manifest.img: the dump did not write it`,
    ]);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a manifest whose digests do not fit its pieces, or that is cut, is damaged; images sent elsewhere are listed, not checked', () => {
  const dir = fakeDump();
  try {
    writeManifest(dir, { elsewhere: ['pages-1.img'] });
    rmSync(path.join(dir, 'pages-1.img'));
    assert.deepEqual(checkManifest(dir), []);
    assert.equal(readManifest(dir)!.find((e) => e.name === 'pages-1.img')!.elsewhere, true);
    const file = path.join(dir, CRYO_MANIFEST_IMAGE);
    truncateSync(file, readFileSync(file).length - 1);
    assert.throws(() => readManifest(dir), /cryo-manifest\.img is damaged \(.*\): the images cannot be checked; dump again/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

/** Each algorithm with what computes it apart from the addon's file reads. */
const ALGS: [string, number, (b: Buffer) => Buffer][] = [
  ['SHA-256', DIGEST_SHA256, (b) => createHash('sha256').update(b).digest()],
  ['BLAKE3', DIGEST_BLAKE3, (b) => native().digest(DIGEST_BLAKE3, b)!],
];

for (const [name, alg, one] of ALGS) {
  test(`the addon hashes consecutive pieces (${name}) as one piece at a time does, and says how many the file held`, (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-sha-'));
    try {
      const file = path.join(dir, 'f');
      const bytes = randomBytes(5 << 20);
      writeFileSync(file, bytes);
      // One byte, a page, pieces across the addon's 4 MiB reads, one longer than a read, one past the end.
      const lengths = Uint32Array.from([1, 4096, 300_000, 4 << 20, 200_000, 600_000]);
      const from = 7;
      const out = Buffer.alloc(lengths.length * 32);
      const fd = openSync(file, 'r');
      let got: number;
      try {
        got = native().digestPieces(alg, fd, from, lengths, out);
      } finally {
        closeSync(fd);
      }
      if (got === -1 && alg === DIGEST_SHA256) {
        t.skip("this node has no OpenSSL SHA256() for the addon to call (cryo hashes by createHash there)");
        return;
      }
      assert.equal(got, 5, 'the last piece is past the end of the file');
      let at = from;
      for (let i = 0; i < got; i++) {
        assert.deepEqual(out.subarray(i * 32, (i + 1) * 32), one(bytes.subarray(at, at + lengths[i]!)), `piece ${i}`);
        at += lengths[i]!;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`the addon's thread-pool form (${name}) gives the same digests and count, and an errno for an unreadable descriptor`, async (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-sha-'));
    try {
      const file = path.join(dir, 'f');
      const bytes = randomBytes(5 << 20);
      writeFileSync(file, bytes);
      const lengths = Uint32Array.from([1, 4096, 300_000, 4 << 20, 200_000, 600_000]);
      const sync = Buffer.alloc(lengths.length * 32);
      const async = Buffer.alloc(lengths.length * 32);
      const fd = openSync(file, 'r');
      const hash = (f: number, out: Buffer) => new Promise<[number, number]>((resolve) => {
        if (native().digestPiecesAsync(alg, f, 7, lengths, out, (e, n) => resolve([e, n])) < 0) resolve([-1, -1]);
      });
      try {
        const [err, got] = await hash(fd, async);
        if (err === -1 && alg === DIGEST_SHA256) {
          t.skip("this node has no OpenSSL SHA256() for the addon to call (cryo hashes by createHash there)");
          return;
        }
        assert.deepEqual([err, got], [0, native().digestPieces(alg, fd, 7, lengths, sync)]);
        assert.equal(got, 5, 'the last piece is past the end of the file');
        assert.deepEqual(async.subarray(0, got * 32), sync.subarray(0, got * 32));
        assert.notDeepEqual(async.subarray(0, 32), Buffer.alloc(32), 'digests were written');
      } finally {
        closeSync(fd);
      }
      const wfd = openSync(path.join(dir, 'w'), 'w');
      try {
        assert.deepEqual(await hash(wfd, async), [9, 0], 'EBADF: a descriptor opened for writing only');
      } finally {
        closeSync(wfd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
