// `cryo decode` of a dump made in the s390x guest gives, here, the JSON `cryo decode` gave there
// (test/fixtures/s390x-rt-regs, see its README): the byte order comes from the image, never from the
// host. The dumped program (rt-regs-s390x, spinning) held known values in every GPR, access
// register, vector register and the FPC: the decoded registers are those values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImage } from '../../src/images/image.js';
import type { MessageValue } from '../../src/images/value.js';
import { runCryo } from '../helpers/cryo-cli.js';
import { repoRoot } from '../helpers/paths.js';

const fx = path.join(repoRoot, 'test', 'fixtures', 's390x-rt-regs');
const images = readdirSync(path.join(fx, 'images')).sort();
const guestJson = (name: string) => readFileSync(path.join(fx, 'cryo-decode', `${name}.json`), 'utf8');

test('the fixture is there: a core image and the images beside it', () => {
  assert.ok(images.some((f) => /^core-\d+\.img$/.test(f)), images.join(' '));
  assert.ok(images.length >= 8, images.join(' '));
  for (const f of images) assert.ok(guestJson(f).length > 0, f);
});

for (const name of images) {
  test(`${name}: cryo decode --pretty here gives the guest's JSON`, () => {
    const r = runCryo(['decode', '-i', path.join(fx, 'images', name), '--pretty']);
    assert.equal(r.status, 0, r.stderr.toString());
    assert.equal(r.stdout.toString(), guestJson(name));
    // inventory.img has no head magic: its order shows in its one magic, read the same way.
    assert.equal(decodeImage(readFileSync(path.join(fx, 'images', name)), name).byteOrder, 'BE');
  });
}

// rt-regs-s390x.c: GPR n, access register n, vector word w of register n.
const GPR = (n: number) => 0x4750520000000000n | BigInt(n) << 32n | 0xa1b2c300n | BigInt(n);
const AR = (n: number) => (0xac005a5a | n << 16) >>> 0;
const VW = (n: number, w: number) => BigInt((0x56000000 | n << 16 | w) >>> 0);
const left = (n: number) => VW(n, 0) << 32n | VW(n, 1);
const right = (n: number) => VW(n, 2) << 32n | VW(n, 3);

test('the registers decoded here are the values the program held in the guest', () => {
  const core = images.find((f) => /^core-\d+\.img$/.test(f))!;
  const ti = decodeImage(readFileSync(path.join(fx, 'images', core)), core).entries[0]!.value.ti_s390 as MessageValue;
  const part = (f: string) => ti[f] as MessageValue;
  const big = (v: unknown) => BigInt(v as bigint);
  const gprs = (part('gpregs').gprs as bigint[]).map(big);
  for (let n = 0; n <= 14; n++) assert.equal(gprs[n], GPR(n), `r${n}`);
  assert.deepEqual((part('gpregs').acrs as number[]).map(Number), [...Array(16).keys()].map(AR));
  assert.equal(Number(part('fpregs').fpc), 1);
  assert.deepEqual((part('fpregs').fprs as bigint[]).map(big), [...Array(16).keys()].map(left));
  assert.deepEqual((part('vxrs_low').regs as bigint[]).map(big), [...Array(16).keys()].map(right));
  assert.deepEqual((part('vxrs_high').regs as bigint[]).map(big), [...Array(16).keys()].flatMap((k) => [left(16 + k), right(16 + k)]));
});
