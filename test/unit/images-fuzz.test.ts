// Mutation fuzzing of the fixture images: truncations, flipped bytes, wrong
// magics, absurd lengths. Every mutant either decodes (and prints as JSON)
// or throws an ImageError whose one-line message names the file and the
// offset. Deterministic seed.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/cli/cli.js';
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

test('the CLI path: mutants give JSON or one line `cryo: FILE: at byte N: expected ...`, exit 1', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cryo-fuzz-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  const r = rng(0xc0ffee);
  const images = fixtureImages().map((fx) => readFileSync(fx.image));
  const kinds = Object.values(mutations);
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  let stderr = '';
  let rejected = 0;
  try {
    for (let i = 0; i < 300; i++) {
      const file = path.join(tmp, `m${i}.img`);
      writeFileSync(file, kinds[r() % kinds.length](images[r() % images.length], r));
      stderr = '';
      process.stdout.write = (() => true) as typeof process.stdout.write;
      process.stderr.write = ((s: string) => { stderr += s; return true; }) as typeof process.stderr.write;
      const status = await main([i % 2 ? 'show' : 'decode', ...(i % 2 ? [file] : ['-i', file])]);
      process.stdout.write = out;
      process.stderr.write = err;
      if (status === 0) assert.equal(stderr, '');
      else {
        assert.equal(status, 1);
        rejected++;
        assert.match(stderr, new RegExp(`^cryo: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: at byte \\d+: expected [^\\n]+\\n$`));
      }
    }
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
  assert.ok(rejected > 50, `only ${rejected} of 300 mutants were rejected`);
});
