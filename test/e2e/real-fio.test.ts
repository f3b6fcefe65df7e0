// A second real program on io_uring: Debian's fio with its io_uring engine (one ring per job, the
// data file registered, its buffer registered: WRITE_FIXED/READ_FIXED on a fixed file) writes a
// 2 MiB file in random 4 KiB blocks at 50 a second, each block carrying a crc32c header, then reads
// every block back and verifies it. It is dumped in the middle of its writes, between two of them:
// a dump that stops its job thread waiting in io_uring_enter hands that call EINTR, which fio reads
// through a stale errno and takes for the end of its writes; cryo puts that wait back, but not on
// every architecture (README, io_uring; rt-iouring-wait tests it). Restored, it must
// finish with its verification passing and exit status 0. fio's ring is its job thread's alone
// (IORING_SETUP_SINGLE_ISSUER): restored as the main thread's, every submission fails with EEXIST
// and fio spins. A block corrupted on disk, or an image without the registered buffer, makes fio
// fail: the checks can fail.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DumpError } from '../../src/dump/index.js';
import { isIoThread } from '../../src/dump/threads.js';
import { restore } from '../../src/restore/index.js';
import { CRYO_IO_URING_IMAGE, readCryoIoUring, writeCryoIoUring } from '../../src/images/cryo-io-uring.js';
import { readIoUringFdinfo } from '../../src/proc/index.js';
import { WNOHANG, __WALL, kill, waitpid } from '../../src/sys/index.js';
import { syscallNumber } from '../../src/sys/syscall-table.js';
import { dumpReal, findProgram, startReal, waitUntil, type RealProgram } from '../helpers/real-program.js';
import { nothingLeftBehind, resealImages } from '../helpers/restore-env.js';
import { toolSkip } from '../helpers/required-tool.js';

const FIO = findProgram('/usr/bin/fio', '/usr/local/bin/fio');
const skip = toolSkip('fio', FIO !== undefined, 'Debian package fio');
const BLOCKS = 512;
const SETUP_CQSIZE = 8;

const progs: RealProgram[] = [];
after(() => progs.forEach((p) => p.cleanup()));

const ringFd = (pid: number) => readdirSync(`/proc/${pid}/fd`).map(Number).find((fd) => {
  try { return readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[io_uring]'; } catch { return false; }
});

const IO_URING_ENTER = syscallNumber('io_uring_enter');

/**
 * fio between two writes: its ring idle, none of its threads running or in io_uring_enter (the job
 * thread sleeps for its rate). The ring's io-wq workers (iou-wrk-N) always show io_uring_enter.
 */
function betweenWrites(p: RealProgram): boolean {
  const info = readIoUringFdinfo(p.pid, ringFd(p.pid)!);
  if (info.sqHead !== info.cqTail || info.cqHead !== info.cqTail) return false;
  return p.threads().every((t) => {
    if (isIoThread(p.pid, t)) return true;
    const call = readFileSync(`/proc/${p.pid}/task/${t}/syscall`, 'utf8').split(' ')[0]!;
    return call !== 'running' && Number(call) !== IO_URING_ENTER;
  });
}

/** Waits for fio (restored: our orphan, we are a subreaper) to exit; its exit code, or 128+signal. */
async function exitCode(pid: number, ms: number): Promise<number> {
  return waitUntil(`fio ${pid} to finish`, ms, () => {
    const r = waitpid(pid, WNOHANG | __WALL);
    if (r.pid !== pid) return undefined;
    return (r.status & 0x7f) === 0 ? (r.status >> 8) & 0xff : 128 + (r.status & 0x7f);
  });
}

/** Copies a file with its mtime to the nanosecond (restore refuses files modified after the dump). */
const copyAsIs = (from: string, to: string) => execFileSync('cp', ['-p', from, to]);

/** Offsets of blocks fio wrote (they start with its verify header magic 0xacca) in `file`. */
function writtenBlocks(file: string): number[] {
  const data = readFileSync(file);
  const out: number[] = [];
  for (let off = 0; off < data.length; off += 4096) if (data.readUInt16LE(off) === 0xacca) out.push(off);
  return out;
}

test('fio with its io_uring engine (a SINGLE_ISSUER ring of its job thread, registered file and buffer) is dumped mid-run, restored, and passes its own verification', { skip, timeout: 240_000 }, async () => {
  const p = startReal('fio', [FIO!, '--name=ringjob', '--ioengine=io_uring', '--thread', '--registerfiles', '--fixedbufs',
    '--filename=data.bin', '--size=2m', '--bs=4k', '--iodepth=1', '--rw=randwrite', '--rate_iops=50',
    '--verify=crc32c', '--do_verify=1', '--verify_fatal=1']);
  progs.push(p);
  // Dumped once a few dozen blocks are written, long before the last of its 512 writes.
  await waitUntil('fio to write through its ring', 30_000, () => {
    const fd = ringFd(p.pid);
    return fd !== undefined && readIoUringFdinfo(p.pid, fd).sqHead >= 40 ? true : undefined;
  });
  let images: string | undefined;
  let busy = 0;
  for (let i = 0; i < 30 && !images; i++) {
    try {
      await waitUntil('fio between two writes', 10_000, () => (betweenWrites(p) ? true : undefined));
      images = await dumpReal(p);
    } catch (e) {
      if (!(e instanceof DumpError && e.code === 'BUSY')) throw e;
      assert.match(e.message, /^the io_uring instance at fd \d+ of task \d+ (has|changed)/);
      busy++;
    }
  }
  assert.ok(images, `dumped within 30 tries (${busy} refused as busy)`);
  const rings = [...readCryoIoUring(images).values()];
  assert.equal(rings.length, 1);
  const ring = rings[0]!;
  assert.ok(ring.sqHead >= 40 && ring.sqHead < BLOCKS, `dumped mid-run: ${ring.sqHead} of ${BLOCKS} writes done`);
  assert.ok(ring.flags & SETUP_CQSIZE, `fio's CQSIZE found (${ring.sqEntries} SQ, ${ring.cqEntries} CQ entries)`);
  // SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN as fio set it up (COOP_TASKRUN, invisible, comes with DEFER_TASKRUN).
  assert.equal(ring.flags & 0x3100, 0x3100, `fio's setup flags 0x${ring.flags.toString(16)}`);
  assert.deepEqual(ring.files.map((f) => [f.index, path.basename(f.path)]), [[0, 'data.bin']], 'the data file registered in slot 0');
  assert.equal(ring.bufs.length, 1, 'one registered buffer');
  // fio's ring is its job thread's alone (SINGLE_ISSUER): the restored one must be that thread's again.
  assert.ok(ring.submitterTid !== undefined && ring.submitterTid !== p.pid, `the ring belongs to a thread other than the main one (${ring.submitterTid})`);
  console.log(`dumped after ${busy} refusal(s) for requests in flight, at write ${ring.sqHead} of ${BLOCKS}`);
  const written = writtenBlocks(path.join(p.dir, 'data.bin'));
  assert.ok(written.length >= 30, `blocks written before the dump: ${written.length}`);
  // The file and fio's output as they were at the dump, for each restore.
  const saved = path.join(p.dir, 'at-dump');
  cpSync(images, path.join(saved, 'images'), { recursive: true });
  copyAsIs(path.join(p.dir, 'data.bin'), path.join(saved, 'data.bin'));
  copyAsIs(path.join(p.dir, 'log.txt'), path.join(saved, 'log.txt'));

  /** Restores an edited copy of the dump with the file and log as dumped; fio's exit code and output. */
  async function run(edit: (imgs: string) => void = () => {}): Promise<{ code: number; log: string }> {
    const dir = path.join(p.dir, 'restore');
    rmSync(dir, { recursive: true, force: true });
    cpSync(path.join(saved, 'images'), dir, { recursive: true });
    copyAsIs(path.join(saved, 'data.bin'), path.join(p.dir, 'data.bin'));
    copyAsIs(path.join(saved, 'log.txt'), path.join(p.dir, 'log.txt'));
    edit(dir);
    resealImages(dir);
    try {
      const r = await restore({ dir, detach: true });
      assert.equal(r.pid, p.pid);
      const code = await exitCode(p.pid, 120_000);
      const left = nothingLeftBehind(p.pid);
      assert.equal(left, undefined, `after fio: ${left}`);
      return { code, log: p.log() };
    } finally {
      try { kill(p.pid, 9); } catch { /* gone */ }
    }
  }

  const ok = await run();
  assert.equal(ok.code, 0, `fio exit status (log: ${ok.log.slice(-600)})`);
  assert.match(ok.log, /ringjob: \(groupid=0, jobs=1\): err= 0:/);
  assert.match(ok.log, new RegExp(`issued rwts: total=${BLOCKS},${BLOCKS},0,0 short=0,0,0,0 dropped=0,0,0,0`), 'every block written and read back');
  assert.doesNotMatch(ok.log, /verify|error/i);

  // A block written before the dump, corrupted on disk while fio is dumped (its mtime put back, so
  // that restore does not see it): fio's verification finds it.
  const bad = await run(() => {
    const file = path.join(p.dir, 'data.bin');
    const data = readFileSync(file);
    data[written[0]! + 2048] ^= 0xff;
    writeFileSync(file, data);
    execFileSync('touch', ['-m', '-r', path.join(saved, 'data.bin'), file]);
  });
  assert.notEqual(bad.code, 0);
  assert.match(bad.log, /crc32c: verify failed at file data\.bin offset \d+/);

  // Without its registered buffer fio's WRITE_FIXED/READ_FIXED fail (EFAULT): fio says so.
  const nobuf = await run((dir) => {
    const edited = [...readCryoIoUring(dir).values()];
    edited[0]!.bufs = [];
    edited[0]!.nrBufs = 0;
    writeCryoIoUring(path.join(dir, CRYO_IO_URING_IMAGE), edited);
  });
  assert.notEqual(nobuf.code, 0);
  assert.match(nobuf.log, /err=14|Bad address/);
});
