// The manifest's digests of an image hashed on its way to the file (HashedAsWritten) are the ones
// the manifest computes by reading the file back, whatever the sizes of the writes; and they can differ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BLOCK, MANIFEST_HASH, blockPieces } from '../../src/images/cryo-manifest.js';
import { hashPieces } from '../../src/images/manifest-hash.js';
import { HashedAsWritten } from '../../src/dump/written-hash.js';

function readBack(file: string, size: number): Buffer {
  const out: Buffer[] = [];
  hashPieces(file, MANIFEST_HASH, blockPieces(size), (_, d) => (out.push(d), true));
  return Buffer.concat(out);
}

test('digests of bytes written in writes of any size are the digests read back from the file, piece by piece', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-written-hash-'));
  try {
    for (const size of [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17, 70_000]) {
      for (const write of [1, 100, BLOCK - 3, BLOCK, 2 * BLOCK + 5, 1 << 20]) {
        const bytes = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + size) & 0xff));
        const h = new HashedAsWritten();
        for (let off = 0; off < size; off += write) h.add(bytes.subarray(off, Math.min(size, off + write)));
        h.end();
        const file = path.join(dir, 'x.img');
        writeFileSync(file, bytes);
        assert.deepEqual([...h.lengths], blockPieces(size).map((p) => p.length), `size ${size}, writes of ${write}`);
        assert.ok(h.digests()!.equals(readBack(file, size)), `size ${size}, writes of ${write}`);
        if (size > 0) {
          bytes[size - 1] = bytes[size - 1]! ^ 1; // the check can fail: one byte changed in the file
          writeFileSync(file, bytes);
          assert.ok(!h.digests()!.equals(readBack(file, size)), `size ${size}: a changed byte shows`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
