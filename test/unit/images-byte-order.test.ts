// Images keep CRIU's framing in the byte order of the machine that wrote them: the reader takes
// that order from the first magic, so a big-endian (s390x) dump decodes on a little-endian host
// to the same entries and the same crit JSON, and says which order it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImage, imageToCrit } from '../../src/images/image.js';
import { fixturesDir } from '../helpers/paths.js';

/** An image without extra payloads with its magics and entry sizes turned big-endian. */
function bigEndianFraming(b: Buffer, heads: number): Buffer {
  const out = Buffer.from(b);
  const swap = (at: number) => out.writeUInt32BE(b.readUInt32LE(at), at);
  for (let i = 0; i < heads; i++) swap(4 * i);
  for (let at = 4 * heads; at < b.length; at += 4 + b.readUInt32LE(at)) swap(at);
  return out;
}

for (const name of ['core-18187.img', 'mm-18187.img', 'pstree.img', 'inventory.img', 'fdinfo-2.img']) {
  test(`${name}: big-endian framing decodes to the same entries and crit JSON`, () => {
    const le = readFileSync(path.join(fixturesDir, 'single', name));
    const heads = name === 'inventory.img' ? 1 : 2; // inventory has no common head magic
    const be = bigEndianFraming(le, heads);
    assert.notDeepEqual(be, le);
    const a = decodeImage(le, name);
    const b = decodeImage(be, name);
    assert.equal(a.byteOrder, 'LE');
    assert.equal(b.byteOrder, 'BE');
    assert.deepEqual(imageToCrit(b, false), imageToCrit(a, false));
  });
}

test('garbage is still not an image in either order', () => {
  assert.throws(() => decodeImage(Buffer.from('0102030405060708', 'hex'), 'x.img'), /not a CRIU image/);
});
