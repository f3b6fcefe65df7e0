// Every CRIU 4.2 fixture image decodes to crit 4.2's JSON text byte for byte
// (pretty and plain), and that JSON encodes back to the original bytes.
// crit prints to stdout with a trailing newline; the fixtures were made so.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { critJsonText, decodeImage, decodeImageFile, encodeImage, imageFromCrit } from '../../src/images/image.js';
import { parseJson } from '../../src/images/json-text.js';
import { fixtureImages } from '../helpers/fixture-images.js';

const images = fixtureImages();

test('the fixtures are there', () => {
  assert.ok(images.length >= 70, `only ${images.length} fixture images found`);
});

function firstDifference(a: string, b: string): string {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return `at char ${i}: got ${JSON.stringify(a.slice(i, i + 60))}, crit has ${JSON.stringify(b.slice(i, i + 60))}`;
}

for (const fx of images) {
  const bytes = readFileSync(fx.image);
  for (const [kind, jsonFile, pretty] of [['pretty', fx.prettyJson, true], ['plain', fx.plainJson, false]] as const) {
    test(`${fx.name}/${fx.file}: decodes to crit's ${kind} JSON`, () => {
      const want = readFileSync(jsonFile, 'utf8');
      const got = critJsonText(decodeImage(bytes, fx.file), pretty) + '\n';
      if (got !== want) assert.fail(firstDifference(got, want));
    });
    test(`${fx.name}/${fx.file}: crit's ${kind} JSON encodes to the original bytes`, () => {
      const img = imageFromCrit(parseJson(readFileSync(jsonFile, 'utf8'), jsonFile), jsonFile);
      const got = encodeImage(img);
      assert.equal(got.length, bytes.length, 'length');
      assert.ok(got.equals(bytes), `bytes differ from byte ${got.findIndex((b, i) => b !== bytes[i])}`);
    });
  }
}

test('the streaming reader gives the same entries as the buffer decoder', () => {
  for (const fx of images) {
    assert.deepEqual(decodeImageFile(fx.image), decodeImage(readFileSync(fx.image), fx.image), fx.image);
  }
});
