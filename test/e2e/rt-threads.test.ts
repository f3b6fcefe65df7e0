// Every thread comes back: test/programs/rt-threads.c (a condition-variable waiter, a futex
// waiter, a thread counting in TLS, a thread with its own mask, alternate stack, name and pending
// signal, a thread spinning with a pattern under its stack pointer) is dumped, restored with the
// same TIDs and checks itself on SIGTERM. Edited images (a TLS value, a thread's name, a thread's
// mask, a byte of the pattern) prove the checks notice.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { dump } from '../../src/dump/index.js';
import { restore } from '../../src/restore/index.js';
import { editImage, nothingLeftBehind } from '../helpers/restore-env.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { startTarget } from '../helpers/dump-target.js';
import { HOST_LITTLE_ENDIAN } from '../../src/sys/index.js';
import { flipDumpedByte } from '../helpers/dumped-memory.js';

const SIGUSR2_BIT = 1n << 11n;
let d: Dumped | undefined;
after(() => cleanupDumped(d));

/** Flips the low bits of the byte at `vaddr` in the dump's pages. */
const flipByte = (dir: string, pid: number, vaddr: bigint) => flipDumpedByte(dir, pid, vaddr, 0x0f);

const threadCore = (e: MessageValue[]) => e[0]!.thread_core as MessageValue;

test('threads: TIDs, names, TLS, masks, altstack, pending signal, cond/futex waiters, counting, memory under a spinning thread\'s SP', async () => {
  d = await startAndDump('rt-threads');
  const r = d.target.ready;
  const tids = [r.main, r.cond, r.futex, r.count, r.own, r.spin].map(Number);
  assert.equal(tids[0], d.pid);

  // The images: one core per thread, the pstree lists them, each non-main mask in its thread core.
  const pstree = decodeImageFile(path.join(d.images, 'pstree.img')).entries[0]!.value;
  assert.deepEqual((pstree.threads as number[]).map(Number), tids);
  const cores = tids.map((t) => decodeImageFile(path.join(d!.images, `core-${t}.img`)).entries[0]!.value);
  assert.equal(cores[0]!.tc !== undefined && threadCore([cores[0]!]).blk_sigset === undefined, true);
  for (const c of cores.slice(1)) assert.equal(c.tc, undefined);
  assert.deepEqual(cores.map((c) => String(threadCore([c]).comm)), ['rt-threads', 'rt-cond', 'rt-futex', 'rt-\\cou\nnt', 'rt-own', 'rt-spin']);
  const own = threadCore([cores[4]!]);
  assert.ok((BigInt(own.blk_sigset as bigint) & SIGUSR2_BIT) !== 0n, 'rt-own blocks SIGUSR2');
  assert.equal(((own.signals_p as MessageValue).signals as unknown[]).length, 1, 'rt-own has its SIGUSR1 pending');
  assert.notEqual(BigInt((own.sas as MessageValue).ss_sp as bigint), 0n, 'rt-own has an alternate stack');

  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.equal(await restoreAndFinish(d), 'PASS', 'the same images restore twice');

  // A TLS value changed in the pages (the low byte of the uint64_t, last on big-endian): the futex waiter notices once woken.
  assert.match(await restoreAndFinish(d, (dir) => flipByte(dir, d!.pid, BigInt(r.tls!) + (HOST_LITTLE_ENDIAN ? 0n : 7n))),
    /^FAIL: rt-futex: tls_id 0xfd, want 0xf2/);
  // A byte of the pattern under rt-spin's stack pointer changed in the pages (the restore's own
  // signal frames used to go there, and broke a Go program whose goroutine stack was there).
  assert.match(await restoreAndFinish(d, (dir) => flipByte(dir, d!.pid, BigInt(r.below!) + 16n * 1024n - 600n)),
    /^FAIL: rt-spin: byte 1624 under its stack pointer is 0x[0-9a-f]+, want 0x[0-9a-f]+/);
  // A thread's name changed in its core.
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `core-${r.own}.img`, (e) => { threadCore(e).comm = 'rt-renamed'; })),
    /^FAIL: rt-own: thread name 'rt-renamed', want 'rt-own'/);
  // A thread's mask changed in its core (SIGUSR2 unblocked).
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, `core-${r.own}.img`, (e) => {
    threadCore(e).blk_sigset = BigInt(threadCore(e).blk_sigset as bigint) & ~SIGUSR2_BIT;
  })), /^FAIL: rt-own: blocked mask 0x[0-9a-f]+ is not SIGUSR1\|SIGUSR2\|SIGTERM/);
});

/** Runs `fn` with environment variable `k` set to `v`. */
async function withEnv<T>(k: string, v: string, fn: () => Promise<T>): Promise<T> {
  process.env[k] = v;
  try {
    return await fn();
  } finally {
    delete process.env[k];
  }
}

const tracerOf = (pid: number, tid: number) => Number(/^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))![1]);

test('a dump that fails after every thread was injected into leaves all threads as they were', async () => {
  const t = startTarget('rt-threads');
  try {
    const tids = ['main', 'cond', 'futex', 'count', 'own', 'spin'].map((k) => Number(t.ready[k]));
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    await assert.rejects(withEnv('CRYO_FAULT', 'dump:write', () => dump({ pid: t.pid, dir: path.join(t.dir, 'img') })),
      /fault injected at dump step 'write' \(CRYO_FAULT=dump:write\)/);
    assert.deepEqual(tids.map((tid) => tracerOf(t.pid, tid)), tids.map(() => 0), 'every thread is detached');
    assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, 'no scratch page left');
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('a restore that fails once the threads exist leaves no process and no thread behind', async () => {
  assert.ok(d, 'the round-trip test dumped rt-threads');
  const tids = ['cond', 'futex', 'count', 'own', 'spin'].map((k) => Number(d!.target.ready[k]));
  const dir = imagesCopy(d);
  await assert.rejects(withEnv('CRYO_FAULT', 'restore:resume', () => restore({ dir, detach: true })), /half-restored process was killed/);
  assert.equal(nothingLeftBehind(d.pid), undefined);
  assert.deepEqual(tids.filter((tid) => existsSync(`/proc/${tid}`)), []);
});
