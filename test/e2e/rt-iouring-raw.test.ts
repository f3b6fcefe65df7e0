// io_uring without liburing (test/programs/rt-iouring-raw.c, raw system calls: it builds for the
// qemu guests too): a ring that ran thousands of requests comes back and goes on. And restore where
// io_uring is disabled (sysctl kernel.io_uring_disabled=2) is refused before anything starts; that
// setting is machine-wide, so this part runs only in a qemu guest of scripts/test-arch.mjs (which
// sets CRYO_GUEST=1; CI's .ci/guest-tests), never on a machine where others run tests.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CRYO_IO_URING_IMAGE, readCryoIoUring, writeCryoIoUring } from '../../src/images/cryo-io-uring.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { IO_URING_DISABLED_SYSCTL } from '../../src/files/io-uring.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const inGuest = process.env.CRYO_GUEST === '1';
// Restore brings a new ring's indexes to the dumped ones 8 no-ops per injected call: in a TCG guest
// that costs about 0.1 s each, so the guest's ring has run fewer requests.
const rounds = inGuest ? 100 : 1500;
let d: Dumped | undefined;
test('a ring driven by raw system calls that ran thousands of requests keeps working after restore', async () => {
  d = await startAndDump('rt-iouring-raw', [String(rounds)]);
  all.push(d);
  const ring = [...readCryoIoUring(d.images).values()][0]!;
  assert.equal(ring.sqHead, Number(d.target.ready.sqhead));
  assert.equal(ring.cqTail, Number(d.target.ready.cqtail));
  assert.equal(ring.sqHead, 2 * rounds, `${2 * rounds} requests (SQ head ${ring.sqHead})`);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: a CQ tail one behind is noticed by the program', async () => {
  assert.ok(d, 'the round trip ran');
  const edit = (dir: string) => {
    const rings = [...readCryoIoUring(dir).values()];
    rings[0]!.cqTail -= 1;
    writeCryoIoUring(path.join(dir, CRYO_IO_URING_IMAGE), rings);
  };
  assert.match(await restoreAndFinish(d, edit), /^FAIL: ring indexes SQ head \d+, CQ tail \d+/);
});

test('restore where io_uring is disabled (sysctl kernel.io_uring_disabled=2) refuses before anything starts, naming it; with 0 it restores',
  { skip: inGuest ? false : 'kernel.io_uring_disabled is machine-wide: this runs in a qemu guest (npm run test:arch -- ARCH --only rt-iouring-raw)' }, async () => {
  assert.ok(d, 'the round trip ran');
  const dir = imagesCopy(d);
  assert.equal(readFileSync(IO_URING_DISABLED_SYSCTL, 'utf8').trim(), '0');
  let err: unknown;
  try {
    writeFileSync(IO_URING_DISABLED_SYSCTL, '2');
    await restore({ dir }).catch((e: unknown) => { err = e; });
  } finally {
    writeFileSync(IO_URING_DISABLED_SYSCTL, '0');
  }
  assert.ok(err instanceof RestoreError && err.code === 'UNSUPPORTED', `refused: ${String(err)}`);
  assert.match(err.message, /^fd \d+ is an io_uring instance and io_uring is disabled on this machine \(sysctl kernel\.io_uring_disabled=2\)/);
  assert.ok(!err.message.includes('\n'));
  assert.ok(!readdirSync('/proc').includes(String(d.pid)), 'no process was started');
  // The same images restore once it is 0 again: the refusal was the setting's.
  assert.equal(await restoreAndFinish(d), 'PASS');
});
