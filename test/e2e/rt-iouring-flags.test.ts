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
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { becomeSubreaper, waitGone } from '../helpers/restore-env.js';
import { IO_URING_WAIT_MS } from '../../src/files/io-uring.js';

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

test('a request an io_uring worker runs (a SPLICE from an empty pipe) is waited for: written while cryo waits, it completes and the ring is dumped', async () => {
  becomeSubreaper();
  const t = startTarget('rt-iouring-flags', ['wait']);
  const images = path.join(t.dir, 'images');
  // A writer of its own (cryo's wait blocks this process): 0.3 s after the dump starts.
  const writer = spawn('sh', ['-c', `sleep 0.3; printf late > /proc/${t.pid}/fd/${t.ready.writefd}`], { stdio: 'ignore' });
  const started = Date.now();
  try {
    await dump({ pid: t.pid, dir: images });
  } catch (e) {
    writer.kill();
    t.cleanup();
    throw e;
  }
  assert.ok(Date.now() - started >= 300, 'the dump went on only once the pipe was written');
  assert.ok(waitGone(t.pid));
  const d: Dumped = { target: t, pid: t.pid, images, readyLine: readFileSync(t.outFile, 'utf8').split('\n')[0]! };
  all.push(d);
  const ring = ringOf(images);
  assert.equal(ring.cqTail, Number(t.ready.cqtail) + 1, 'the splice completed during the dump: its CQE is in the ring');
  assert.equal(await restoreAndFinish(d), '(completed while dumped) PASS');
});

test('a request in flight that does not complete within the wait is refused naming the ring; the task runs on and gets it', async () => {
  const t = startTarget('rt-iouring-flags', ['wait']);
  try {
    const started = Date.now();
    await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images` }), (e: unknown) => e instanceof DumpError && e.code === 'BUSY'
      && e.message === `the io_uring instance at fd ${t.ready.ringfd} of task ${t.pid} still has 1 request(s) in flight (submitted, not completed: SqHead ${t.ready.sqhead}, CqTail ${t.ready.cqtail}; fdinfo names the opcodes of polled ones only) after cryo waited ${IO_URING_WAIT_MS / 1000} s for them: cryo dumps io_uring only with no request in flight; dump again once the program has reaped its completions, or have it cancel those requests first (IORING_OP_ASYNC_CANCEL)`);
    assert.ok(Date.now() - started >= IO_URING_WAIT_MS, 'cryo waited');
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('a ring registered to a thread (IORING_REGISTER_RING_FDS), which no file shows, is refused naming thread and index; it works on', async () => {
  const t = startTarget('rt-iouring-flags', ['ringfd']);
  try {
    await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images` }), (e: unknown) => e instanceof DumpError && e.code === 'UNSUPPORTED'
      && e.message === `thread ${t.pid} of task ${t.pid} has an io_uring ring registered at index 3 (IORING_REGISTER_RING_FDS, for IORING_ENTER_REGISTERED_RING): cryo cannot restore that registration yet; have the program unregister it (io_uring_unregister_ring_fd) before the dump`);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
