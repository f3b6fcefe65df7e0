// cryo-cpu.img: what is written reads back; a file of another kind or cut short is refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CRYO_CPU_IMAGE, readCryoCpu, writeCryoCpu } from '../../src/images/cryo-cpu.js';

test('cryo-cpu.img: round trip, 0600, absent, bad magic, cut short', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cryo-cpu-'));
  try {
    assert.equal(readCryoCpu(dir), undefined);
    writeCryoCpu(dir, { hwcap: [0xefffffffn, (1n << 63n) | 3n] });
    assert.deepEqual(readCryoCpu(dir), { hwcap: [0xefffffffn, (1n << 63n) | 3n] });
    const file = path.join(dir, CRYO_CPU_IMAGE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, good.length - 1));
    assert.throws(() => readCryoCpu(dir), /cryo-cpu\.img: an entry at byte 4 runs past the end/);
    const bad = Buffer.from(good);
    bad[0] ^= 1;
    writeFileSync(file, bad);
    assert.throws(() => readCryoCpu(dir), /not a cryo-cpu image \(bad magic\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
