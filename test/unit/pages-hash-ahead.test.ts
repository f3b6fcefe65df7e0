// A pages image hashed while it is written (src/dump/pages-hash.ts, on the addon's hasher thread)
// gives the manifest exactly the digests it would compute itself (pieces across runs the pagemap
// merges, runs with no bytes, lazy runs, runs longer than a piece); digests whose pieces are not the
// manifest's are not taken. The restore side (manifest-worker.ts on the same hasher) names an
// edited piece. Real files in a temporary directory; the hasher is the addon's own thread.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, openSync, writeSync, closeSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { computeManifest, type HashedAhead } from '../../src/images/cryo-manifest.js';
import { PE_LAZY, PE_PARENT, PE_PRESENT } from '../../src/images/flags.js';
import { PagesFile } from '../../src/dump/page-sink.js';
import { ImagesInWorker } from '../../src/images/manifest-worker.js';
import { HashAhead } from '../../src/images/hash-ahead.js';

const PAGE = 4096;
const hasHasher = HashAhead.start();
hasHasher?.stop();
const skip = hasHasher === undefined ? 'the addon cannot be loaded' : false;

/** Writes a dump's pagemap-7.img and pages-1.img through the dump's sink, entries before their bytes as dumpPages gives them. */
function writePages(dir: string): PagesFile {
  const sink = new PagesFile(path.join(dir, 'pagemap-7.img'), path.join(dir, 'pages-1.img'), 1, PAGE);
  const runs: [bigint, number, number][] = [
    [0x10000n, 3, PE_PRESENT],
    [0x13000n, 1500, PE_PRESENT], // continues the run before: one pagemap entry, cut at 256 KiB from 0x10000
    [0x600000n, 4, PE_PARENT], // no bytes
    [0x604000n, 2000, PE_PRESENT], // right after a parent run: an entry of its own
    [0xa00000n, 70, PE_PRESENT | PE_LAZY],
    [0xa46000n, 1, PE_PRESENT], // the stack page inside a lazy area: its own entry
    [0xa47000n, 65, PE_PRESENT | PE_LAZY],
  ];
  for (let i = 0; i < 300; i++) runs.push([0x40000000n + BigInt(i * 2 * PAGE), 1, PE_PRESENT]); // a sparse area
  let pending: Buffer[] = [];
  for (const [vaddr, pages, flags] of runs) {
    sink.entry(vaddr, pages, flags);
    if (flags & PE_PRESENT) pending.push(randomBytes(pages * PAGE));
    // Bytes lag behind entries (the dump batches them): written every few runs.
    if (pending.length >= 3) {
      sink.write(Buffer.concat(pending));
      pending = [];
    }
  }
  sink.write(Buffer.concat(pending));
  sink.finish();
  sink.close();
  return sink;
}

test('a pages image hashed while written: the manifest takes its digests, the same it computes itself', { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-hash-ahead-'));
  try {
    const sink = writePages(dir);
    const got: (Buffer | undefined)[] = [];
    const spy: HashedAhead = { alg: 'blake3', lengths: sink.hashing.lengths, digests: () => (got.push(sink.hashing.digests()), got[0]) };
    const ahead = computeManifest(dir, { ahead: new Map([['pages-1.img', spy]]) }).find((e) => e.name === 'pages-1.img')!;
    assert.equal(got.length, 1, 'the digests hashed ahead were asked for');
    assert.ok(got[0] instanceof Buffer, 'and were there (the hasher ran)');
    const own = computeManifest(dir).find((e) => e.name === 'pages-1.img')!;
    assert.deepEqual(ahead.pieces, own.pieces);
    assert.ok(own.pieces.length > 50 && own.pieces.slice(0, -1).every((p) => p.length === 256 * 1024 && p.vaddr !== undefined));
    assert.deepEqual(ahead.digests.map((d) => d.toString('hex')), own.digests.map((d) => d.toString('hex')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('digests hashed ahead for other pieces, by another algorithm, or none, are not taken: the manifest hashes the image itself', { skip }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-hash-ahead-'));
  try {
    const sink = writePages(dir);
    const own = computeManifest(dir).find((e) => e.name === 'pages-1.img')!;
    const lengths = sink.hashing.lengths.slice();
    lengths[1] -= PAGE;
    lengths[2] += PAGE; // the same bytes cut elsewhere
    let taken = 0;
    const wrong: HashedAhead = { alg: 'blake3', lengths, digests: () => (taken++, Buffer.alloc(lengths.length * 32)) };
    const none: HashedAhead = { alg: 'blake3', lengths: sink.hashing.lengths, digests: () => undefined };
    const otherHash: HashedAhead = { alg: 'sha256', lengths: sink.hashing.lengths, digests: () => (taken++, Buffer.alloc(lengths.length * 32)) };
    for (const a of [wrong, none, otherHash]) {
      const m = computeManifest(dir, { ahead: new Map([['pages-1.img', a]]) }).find((e) => e.name === 'pages-1.img')!;
      assert.deepEqual(m.digests.map((d) => d.toString('hex')), own.digests.map((d) => d.toString('hex')));
    }
    assert.equal(taken, 0, 'pieces or an algorithm that differ: their digests are not asked for');
    sink.hashing.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('restore\'s check on the hasher: an intact image passes, a byte edited in it names its piece', { skip }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-hash-ahead-'));
  try {
    writePages(dir).hashing.stop();
    const entry = computeManifest(dir).find((e) => e.name === 'pages-1.img')!;
    const file = path.join(dir, 'pages-1.img');
    assert.deepEqual(await new ImagesInWorker([{ file, entry }]).result, []);
    const at = entry.pieces[5]!.offset + 100;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.from([readFileSync(file)[at]! ^ 1]), 0, 1, at);
    closeSync(fd);
    const bad = await new ImagesInWorker([{ file, entry }]).result;
    const p = entry.pieces[5]!;
    assert.deepEqual(bad, [`${file}: bytes ${p.offset}-${p.offset + p.length - 1} (pages from 0x${p.vaddr!.toString(16)}) differ from what the dump wrote (BLAKE3)`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
