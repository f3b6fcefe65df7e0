// Mutation fuzzing of the fixture images: truncations, flipped bytes, wrong
// magics, absurd lengths. Every mutant either decodes (and prints as JSON)
// or throws an ImageError whose one-line message names the file and the
// offset. Deterministic seed.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ImageError } from '../../src/images/errors.js';
import { critJsonText, decodeImage } from '../../src/images/image.js';
import { fixtureImages } from '../helpers/fixture-images.js';

/** xorshift32: a fixed sequence, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

type Mutation = (b: Buffer, r: () => number) => Buffer;
const mutations: Record<string, Mutation> = {
  truncate: (b, r) => b.subarray(0, r() % b.length),
  flipByte: (b, r) => { const c = Buffer.from(b); c[r() % c.length] ^= 1 << (r() % 8); return c; },
  randomBytes: (b, r) => { const c = Buffer.from(b); for (let i = 0; i < 4; i++) c[r() % c.length] = r() & 0xff; return c; },
  wrongMagic: (b, r) => { const c = Buffer.from(b); c.writeUInt32LE(r(), c.length >= 8 && r() & 1 ? 4 : 0); return c; },
  absurdLength: (b, r) => {
    const c = Buffer.from(b);
    const at = Math.min(c.length - 4, 8 + (r() % Math.max(1, c.length - 8)));
    if (at >= 0) c.writeUInt32LE([0xffffffff, 0x7fffffff, 0x80000000, c.length * 2][r() % 4], at);
    return c;
  },
  varintRun: (b, r) => { const c = Buffer.from(b); const at = r() % c.length; c.fill(0xff, at, Math.min(c.length, at + 12)); return c; },
  appendJunk: (b, r) => Buffer.concat([b, Buffer.from([r() & 0xff, r() & 0xff, r() & 0xff])]),
};

test('mutated fixture images decode or fail with a one-line ImageError', () => {
  const r = rng(0x5eed1234);
  const images = fixtureImages().map((fx) => ({ name: `${fx.name}/${fx.file}`, bytes: readFileSync(fx.image) }));
  const kinds = Object.entries(mutations);
  let decoded = 0;
  let rejected = 0;
  for (let i = 0; i < 4000; i++) {
    const img = images[r() % images.length];
    const [kind, mutate] = kinds[r() % kinds.length];
    const mutant = mutate(img.bytes, r);
    const file = `mutant-${i}-${kind}-${img.name.replace('/', '-')}`;
    try {
      const decodedImage = decodeImage(mutant, file);
      critJsonText(decodedImage, true);
      critJsonText(decodedImage, false);
      decoded++;
    } catch (e) {
      if (!(e instanceof ImageError)) assert.fail(`${file}: not an ImageError: ${(e as Error)?.stack ?? e}`);
      assert.ok(e.message.startsWith(`${file}: at byte ${e.offset}: expected `), e.message);
      assert.ok(!e.message.includes('\n'), e.message);
      assert.ok(e.offset >= 0 && e.offset <= mutant.length, `${e.message} (size ${mutant.length})`);
      rejected++;
    }
  }
  assert.ok(rejected > 1000 && decoded > 100, `decoded ${decoded}, rejected ${rejected}`);
});
