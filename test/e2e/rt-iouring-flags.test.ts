// Setup flags that change what the program sees (test/programs/rt-iouring-flags.c, raw system
// calls): 128-byte SQEs, 32-byte CQEs, no SQ array, TASKRUN_FLAG on a DEFER_TASKRUN ring, IOPOLL.
// Each ring comes back with its flag and the program checks the flag's effect after restore; the
// same image with the flag taken out makes the program fail. A ring whose SQE size cryo cannot
// tell is refused naming it, and runs on.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CRYO_IO_URING_IMAGE, readCryoIoUring, writeCryoIoUring } from '../../src/images/cryo-io-uring.js';
import { SETUP } from '../../src/files/io-uring-abi.js';
import { dump, DumpError } from '../../src/dump/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const ringOf = (dir: string) => [...readCryoIoUring(dir).values()][0]!;
const without = (flag: number) => (dir: string) => {
  const rings = [...readCryoIoUring(dir).values()];
  rings[0]!.flags &= ~flag;
  writeCryoIoUring(path.join(dir, CRYO_IO_URING_IMAGE), rings);
};

const cases: [mode: string, flag: number, fails: RegExp][] = [
  ['sqe128', SETUP.SQE128, /^FAIL: completion user_data/],
  ['cqe32', SETUP.CQE32, /^FAIL: (completion user_data|no completion|32-byte CQE)/],
  ['nosqarray', SETUP.NO_SQARRAY, /^FAIL: completion user_data/],
  ['taskrun', SETUP.TASKRUN_FLAG, /^FAIL: no IORING_SQ_TASKRUN with a completion waiting/],
  ['iopoll', SETUP.IOPOLL, /^FAIL: a buffered read on the polled ring: 512, not -EOPNOTSUPP/],
];

for (const [mode, flag, fails] of cases) {
  test(`a ring set up with ${mode} comes back with it; the program sees its effect, and fails without it`, async () => {
    const d = await startAndDump('rt-iouring-flags', [mode]);
    all.push(d);
    const ring = ringOf(d.images);
    assert.ok(ring.flags & flag, `the image has the flag (flags 0x${ring.flags.toString(16)})`);
    assert.equal(ring.sqHead, Number(d.target.ready.sqhead));
    assert.equal(await restoreAndFinish(d), 'PASS');
    assert.match(await restoreAndFinish(d, without(flag)), fails);
  });
}

test('a ring without SQ array whose SQEs fit one page at 64 or 128 bytes is refused naming it; it runs on', async () => {
  const t = startTarget('rt-iouring-flags', ['nosqarray8']);
  try {
    await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images` }), (e: unknown) => e instanceof DumpError && e.code === 'UNSUPPORTED'
      && e.message === `the io_uring instance at fd ${t.ready.ringfd} of task ${t.pid} was set up with IORING_SETUP_NO_SQARRAY and its 8 SQEs fit one size of area whether they are 64 or 128 bytes (IORING_SETUP_SQE128): cryo cannot tell which, and a wrong guess would garble every request`);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
