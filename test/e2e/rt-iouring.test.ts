// io_uring comes back: test/programs/rt-iouring.c (liburing) runs thousands of requests on a ring
// (file writes and reads, timeouts, accepts, no-ops), leaves one completion unreaped and one SQE
// queued, is dumped, restored, and checks on SIGTERM that the ring goes on where it was. The
// images show the kernel's indexes; the restored ring's fdinfo shows them again. Edited images
// prove the checks notice; a request in flight is refused and the program runs on.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { CRYO_IO_URING_IMAGE, readCryoIoUring, writeCryoIoUring } from '../../src/images/cryo-io-uring.js';
import { dump, DumpError } from '../../src/dump/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
function fileOf(dir: string, fd: number): MessageValue {
  const id = entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
  return entries(dir, 'files.img').find((f) => f.id === id)!;
}
/** Edits the one ring of cryo-io-uring.img. */
function editRing(dir: string, edit: (r: ReturnType<typeof readCryoIoUring> extends Map<number, infer R> ? R : never) => void): void {
  const rings = [...readCryoIoUring(dir).values()];
  edit(rings[0]!);
  writeCryoIoUring(path.join(dir, CRYO_IO_URING_IMAGE), rings);
}

async function roundTrip(mode: string): Promise<Dumped> {
  const d = await startAndDump('rt-iouring', [mode]);
  all.push(d);
  const r = d.target.ready;
  const f = fileOf(d.images, Number(r.ringfd));
  assert.equal(f.type, 'EXT', 'files.img names the ring descriptor (crit lists it)');
  const ring = [...readCryoIoUring(d.images).values()][0]!;
  assert.equal(ring.id, Number(f.id));
  assert.equal(ring.sqHead, Number(r.sqhead), 'the kernel\'s SQ head as the program saw it');
  assert.equal(ring.cqTail, Number(r.cqtail));
  assert.ok(ring.sqHead > 5000, `thousands of requests before the dump (SQ head ${ring.sqHead})`);
  assert.equal(ring.sqTail, ring.sqHead, 'the queued SQE is in the SQE array only (liburing publishes the tail when it submits)');
  assert.equal(ring.cqHead, ring.cqTail - 1, 'one completion unreaped');
  const vmas = (entries(d.images, readdirSync(d.images).find((n) => /^mm-\d+\.img$/.test(n))!)[0]!.vmas as MessageValue[])
    .filter((v) => Number(v.shmid) === ring.id && (Number(v.status) & (1 << 18)));
  assert.equal(vmas.length, ring.maps.length);
  assert.equal(await restoreAndFinish(d), 'PASS');
  return d;
}

let basic: Dumped | undefined;
test('a ring that completed thousands of requests keeps working after restore', async () => {
  basic = await roundTrip('basic');
});

test('edited images: a wrong index or ring content is noticed by the program', async () => {
  assert.ok(basic, 'the round trip ran');
  assert.match(await restoreAndFinish(basic, (dir) => editRing(dir, (r) => { r.sqHead += 1; })), /^FAIL: ring indexes SQ head \d+, CQ tail \d+/);
  assert.match(await restoreAndFinish(basic, (dir) => editRing(dir, (r) => { r.cqTail -= 1; })), /^FAIL: ring indexes/);
});

test('registered buffers come back: READ_FIXED and WRITE_FIXED work on them after restore', async () => {
  const d = await roundTrip('bufs');
  const ring = [...readCryoIoUring(d.images).values()][0]!;
  assert.equal(ring.bufs.length, 2);
  assert.ok(ring.bufs.every((b) => b.len === 8192));
  // Without them the fixed requests fail (EFAULT/EINVAL): the program says so.
  assert.match(await restoreAndFinish(d, (dir) => editRing(dir, (r) => { r.bufs = []; r.nrBufs = 0; })), /^FAIL: write round 0: -14|^FAIL: write round 0: -22/);
});

test('a sparse registered buffer table comes back sparse: the buffer in slot 2 works, slot 1 stays empty', async () => {
  const d = await roundTrip('bufs-sparse');
  const ring = [...readCryoIoUring(d.images).values()][0]!;
  assert.equal(ring.nrBufs, 3);
  assert.deepEqual(ring.bufs.map((b) => b.index), [0, 2]);
  // Packed into slots 0 and 1 the program's reads from slot 2 fail.
  assert.match(await restoreAndFinish(d, (dir) => editRing(dir, (r) => { r.bufs[1]!.index = 1; r.nrBufs = 2; })), /^FAIL: read round 0: -14|^FAIL: read round 0: -22/);
});

test('registered files (a sparse table) come back: reads, writes and accepts on fixed files work after restore', async () => {
  const d = await roundTrip('files');
  const ring = [...readCryoIoUring(d.images).values()][0]!;
  assert.equal(ring.nrFiles, 3);
  assert.deepEqual(ring.files.map((f) => f.index), [0, 2], 'slot 1 is empty');
  assert.match(ring.files[0]!.path, /\/iouring-data$/);
  assert.match(ring.files[1]!.path, /^socket:\[\d+\]$/);
  // Without them the program cannot update its table (ENXIO): it says so.
  assert.match(await restoreAndFinish(d, (dir) => editRing(dir, (r) => { r.files = []; r.nrFiles = 0; })), /^FAIL: files_update: -6/);
  // Slot 0 registered from another descriptor than the dumped one: the new ring's fdinfo shows it.
  const err = await restoreRefused(d, (dir) => editRing(dir, (r) => { r.files[0]!.fd = r.files[1]!.fd; }));
  assert.match(err, /^the new ring of fd \d+ shows 3 registered file slot\(s\), slot 0 socket:\[\d+\], not the dumped 3 \(slot 0 \/.*\/iouring-data\)( \(the half-restored process \d+ was killed\))?$/);
});

test('an SQPOLL ring comes back with a kernel SQPOLL thread of its own (never dumped, never made by cryo)', async () => {
  const d = await roundTrip('sqpoll');
  const ring = [...readCryoIoUring(d.images).values()][0]!;
  assert.ok(ring.flags & 2, 'IORING_SETUP_SQPOLL found (fdinfo SqThread)');
  const cores = readdirSync(d.images).filter((n) => /^core-\d+\.img$/.test(n));
  assert.equal(cores.length, 1, 'the SQPOLL thread is not dumped as a thread of the task');
  // Without SQPOLL the program's submissions (it only wakes the thread) are never seen.
  assert.match(await restoreAndFinish(d, (dir) => editRing(dir, (r) => { r.flags &= ~2; })), /^FAIL: /);
  // sq_thread_idle, measured (50 ms in the program): without it the thread spins the kernel's 1 s.
  assert.ok(ring.sqThreadIdle !== undefined && ring.sqThreadIdle >= 30 && ring.sqThreadIdle <= 200, `sq_thread_idle measured: ${ring.sqThreadIdle} ms`);
  assert.match(await restoreAndFinish(d, (dir) => editRing(dir, (r) => { delete r.sqThreadIdle; })), /^FAIL: the SQPOLL thread slept only \d+ ms after the last request/);
});

test('a request in flight (a read on an empty pipe) is refused, naming the ring; the task runs on and gets its completion', async () => {
  const t = startTarget('rt-iouring', ['inflight']);
  try {
    await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images` }), (e: unknown) => e instanceof DumpError && e.code === 'BUSY'
      && e.message === `the io_uring instance at fd ${t.ready.ringfd} of task ${t.pid} has 1 request(s) in flight: 1 waiting on a poll (IORING_OP_READ), which complete only when the task runs: cryo dumps io_uring only with no request in flight; dump again once the program has reaped its completions, or have it cancel those requests first (IORING_OP_ASYNC_CANCEL)`);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('a registered eventfd comes back registered (SINGLE_ISSUER ring, async too): it keeps its count and counts new completions', async () => {
  for (const mode of ['eventfd', 'eventfd-si', 'eventfd-async']) {
    const d = await startAndDump('rt-iouring', [mode]);
    all.push(d);
    const ring = [...readCryoIoUring(d.images).values()][0]!;
    assert.equal(ring.eventfd, Number(d.target.ready.efd), `${mode}: the image names the task's eventfd`);
    assert.equal(ring.eventfdAsync === true, mode === 'eventfd-async', `${mode}: registered async or not`);
    // Registered not async, it counts the inline completion the program makes first.
    if (mode === 'eventfd-async') assert.match(await restoreAndFinish(d, (dir) => editRing(dir, (r) => { delete r.eventfdAsync; })), /^FAIL: an inline completion signalled the eventfd registered async/);
    if (mode === 'eventfd') {
      // Without it the ring signals nothing; naming a descriptor that is no eventfd is refused.
      assert.match(await restoreAndFinish(d, (dir) => editRing(dir, (r) => { delete r.eventfd; })), /^FAIL: no eventfd signal after a completion/);
      assert.match(await restoreRefused(d, (dir) => editRing(dir, (r) => { r.eventfd = Number(d.target.ready.ringfd); })), /its registered eventfd is fd \d+, which is no eventfd of the task in the fdinfo image/);
    }
    // Last: the program writes its data file after the checks, and restore needs it as dumped.
    assert.equal(await restoreAndFinish(d), 'PASS', mode);
  }
});

test('what cryo cannot find or make again is refused with one line and stays: an eventfd it cannot take its completion back from, provided buffers, a file only the ring holds', async () => {
  for (const [mode, why, opts] of [
    ['eventfd-only', /and holds no eventfd descriptor: cryo cannot dump an eventfd only the ring holds/, {}],
    ['eventfd-unreaped', /and 1 completion\(s\) not reaped: .* dump again once the program has reaped its completions/, {}],
    ['eventfd-defer', /on a DEFER_TASKRUN ring/, {}],
    ['eventfd', /and the task is to run on: .* dump it without --leave-running/, { leaveRunning: true }],
    ['pbuf', /has buffer rings \(IORING_REGISTER_PBUF_RING, groups 5\): where they are shows nowhere/, {}],
    ['pbuf-legacy', /has provided buffers \(IORING_OP_PROVIDE_BUFFERS, groups 7\)/, {}],
    // On a SINGLE_ISSUER ring the 65536 groups are asked in its own thread, in batches.
    ['pbuf-si', /has buffer rings \(IORING_REGISTER_PBUF_RING, groups 40000\): where they are shows nowhere/, {}],
    ['pbuf-legacy-si', /has provided buffers \(IORING_OP_PROVIDE_BUFFERS, groups 7\)/, {}],
    ['fileonly', /has registered file slot 0 \(\/.*\/iouring-data-only\) whose file no descriptor of the task holds/, {}],
  ] as const) {
    const t = startTarget('rt-iouring', [mode]);
    try {
      await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images`, ...opts }), (e: unknown) => e instanceof DumpError && e.code === 'UNSUPPORTED'
        && e.message.startsWith(`the io_uring instance at fd ${t.ready.ringfd} of task ${t.pid} `) && why.test(e.message) && !e.message.includes('\n'));
      assert.equal(t.finish(), 'PASS', mode);
    } finally {
      t.cleanup();
    }
  }
});

test('personalities (6.18 fdinfo lists none) are found and refused naming their ids; the ring keeps them and its next id', async () => {
  // personality-si: a SINGLE_ISSUER ring, whose ids are taken and given back in batches in its thread.
  for (const mode of ['personality', 'personality-si']) {
    const t = startTarget('rt-iouring', [mode]);
    try {
      await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images` }), (e: unknown) => e instanceof DumpError && e.code === 'UNSUPPORTED'
        && e.message === `the io_uring instance at fd ${t.ready.ringfd} of task ${t.pid} has registered personalities (IORING_REGISTER_PERSONALITY, ids 2): the credentials they stand for show nowhere, so cryo cannot restore them`);
      // The program checks personality 2 still works, 1 does not, and its next id is 3.
      assert.equal(t.finish(), 'PASS', mode);
    } finally {
      t.cleanup();
    }
  }
});

test('restrictions (on an enabled ring, or a ring still disabled) are refused with one line; the ring works on', async () => {
  for (const [mode, why] of [
    ['restrict', /has restrictions registered \(IORING_REGISTER_RESTRICTIONS: register opcodes 0, 1, 2, 3, 4, 5, 9, 10, 12, 18 refused with EACCES\)/],
    ['disabled', /is disabled \(IORING_SETUP_R_DISABLED, not enabled yet, restrictions registered\)/],
  ] as const) {
    const t = startTarget('rt-iouring', [mode]);
    try {
      await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images` }), (e: unknown) => e instanceof DumpError && e.code === 'UNSUPPORTED'
        && e.message.startsWith(`the io_uring instance at fd ${t.ready.ringfd} of task ${t.pid} `) && why.test(e.message) && !e.message.includes('\n'));
      assert.equal(t.finish(), 'PASS');
    } finally {
      t.cleanup();
    }
  }
});

test("a dump failed at each step of the personality look (ids taken in batches, the cursor put back) leaves the ring's personalities and its next id as they were", async () => {
  // The look is a dump's last step (a register, 17 batches of ids, the cursor's unregister and
  // register). Once, a fault there left cryo's ids on the ring
  // (given back in batches that the fault failed too) or the cursor moved: the program's next id was not 3.
  for (const mode of ['personality', 'personality-si']) {
    const count = startTarget('rt-iouring', [mode]);
    let points: string[];
    try {
      const trace = path.join(count.dir, 'points');
      process.env.CRYO_FAULT_TRACE = trace;
      try {
        await assert.rejects(dump({ pid: count.pid, dir: `${count.dir}/images` }), /has registered personalities/);
      } finally {
        delete process.env.CRYO_FAULT_TRACE;
      }
      points = readFileSync(trace, 'utf8').trim().split('\n');
      assert.equal(count.finish(), 'PASS', mode);
    } finally {
      count.cleanup();
    }
    // Its first point: the last register call that follows neither a register call nor a batch.
    const register = (l: string | undefined) => /io_uring_register\(\) injected/.test(l ?? '');
    let look = points.length;
    while (look > 1 && !(register(points[look - 1]) && !register(points[look - 2]) && !/ code run in task /.test(points[look - 2]!))) look--;
    assert.ok(look > 0 && / code run in task /.test(points[look]!), `${mode}: the look starts at point ${look} with a batch after it`);
    for (const n of [look, look + 1, look + 9, look + 17, look + 18, look + 19]) {
      const t = startTarget('rt-iouring', [mode]);
      try {
        process.env.CRYO_FAULT = `dump:${n}`;
        try {
          await assert.rejects(dump({ pid: t.pid, dir: `${t.dir}/images` }), new RegExp(`fault injected at dump point ${n} \\(`));
        } finally {
          delete process.env.CRYO_FAULT;
        }
        // The program checks personality 2 still works, 1 does not, and its next id is 3.
        assert.equal(t.finish(), 'PASS', `${mode}, a fault at point ${n} (${points[n - 1]})`);
      } finally {
        t.cleanup();
      }
    }
  }
});
