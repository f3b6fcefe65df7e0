// File locks across a tree: test/programs/rt-locks.c (the parent holds an flock write lock, a
// POSIX write lock on bytes 0-9 and an OFD write lock on bytes 100-199; its child a POSIX read
// lock on bytes 20-29 through a descriptor it inherited) is dumped (filelocks.img as CRIU 4.2
// writes it), every PID is gone, and the restored tree probes its locks from a fresh process on
// SIGTERM. Edited images (a lock dropped, a lock's type changed) must make it FAIL; a lock another
// process took meanwhile, and a lock on a descriptor the owner does not have, are refused.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { dump } from '../../src/dump/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { sleepSync } from '../../src/sys/index.js';
import { editImage, nothingLeftBehind, waitGone } from '../helpers/restore-env.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const FL_POSIX = 1, FL_FLOCK = 2, FL_OFD = 4, F_RDLCK = 0, F_WRLCK = 1;
const locksOf = (dir: string) => decodeImageFile(path.join(dir, 'filelocks.img')).entries.map((e) => e.value);
const show = (l: MessageValue) => [Number(l.flag), Number(l.type), Number(l.pid), Number(l.start), Number(l.len)];

let dumped: Dumped | undefined;
async function locks(): Promise<Dumped> {
  if (!dumped) {
    dumped = await startAndDump('rt-locks');
    all.push(dumped);
    assert.ok(waitGone(Number(dumped.target.ready.child)), 'the child is gone after the dump');
  }
  return dumped;
}

test('flock, POSIX and OFD locks of a tree: dumped with owner and fd, restored, the tree passes', async () => {
  const d = await locks();
  const child = Number(d.target.ready.child);
  const got = locksOf(d.images);
  assert.deepEqual(got.map(show).sort(), [
    [FL_FLOCK, F_WRLCK, d.pid, 0, 0],
    [FL_POSIX, F_WRLCK, d.pid, 0, 10],
    [FL_OFD, F_WRLCK, d.pid, 100, 100],
    [FL_POSIX, F_RDLCK, child, 20, 10],
  ].sort());
  // Each lock names a descriptor of its owner on the locked file.
  for (const l of got) {
    const link = (name: string) => path.join(d.target.dir, name);
    const want = Number(l.flag) === FL_FLOCK ? link('flock.lock') : Number(l.flag) === FL_OFD ? link('ofd.lock') : link('posix.lock');
    const ids = decodeImageFile(path.join(d.images, `ids-${Number(l.pid)}.img`)).entries[0]!.value;
    const fdi = decodeImageFile(path.join(d.images, `fdinfo-${Number(ids.files_id)}.img`)).entries.map((e) => e.value).find((f) => Number(f.fd) === Number(l.fd))!;
    const file = decodeImageFile(path.join(d.images, 'files.img')).entries.map((e) => e.value).find((f) => f.id === fdi.id)!;
    assert.equal((file.reg as MessageValue).name, want);
  }
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test("the child's POSIX read lock dropped from filelocks.img makes the restored tree FAIL", async () => {
  const d = await locks();
  const out = await restoreAndFinish(d, (dir) => {
    const file = path.join(dir, 'filelocks.img');
    const img = decodeImageFile(file);
    const before = img.entries.length;
    const kept = { ...img, entries: img.entries.filter((e) => Number(e.value.type) !== F_RDLCK) };
    assert.equal(kept.entries.length, before - 1);
    writeFileSync(file, encodeImage(kept));
  });
  assert.match(out, /^FAIL: the POSIX read lock of the child on posix\.lock: found type 2 /);
});

test('an flock write lock turned into a read lock in filelocks.img makes the restored tree FAIL', async () => {
  const d = await locks();
  const out = await restoreAndFinish(d, (dir) => editImage(dir, 'filelocks.img', (es) => {
    es.find((e) => Number(e.flag) === FL_FLOCK)!.type = F_RDLCK;
  }));
  assert.match(out, /^FAIL: the flock write lock of the parent on flock\.lock is gone/);
});

test('a lock on a descriptor its owner does not have is refused before anything starts', async () => {
  const d = await locks();
  const dir = imagesCopy(d, (x) => editImage(x, 'filelocks.img', (es) => { es[0]!.fd = 999; }));
  await assert.rejects(restore({ dir, detach: true }), (e: unknown) => {
    assert.ok(e instanceof RestoreError);
    assert.equal(e.code, 'IMAGE_INCONSISTENT');
    assert.match(e.message, /^filelocks\.img: the \S+ \S+ lock of process \d+ \(fd 999\).* is held through fd 999, which process \d+ does not have$/);
    return true;
  });
  assert.equal(existsSync(`/proc/${d.pid}`), false);
});

test('a conflicting lock another process took after the dump: restore fails naming the file, nothing left behind', async () => {
  const d = await locks();
  const file = path.join(d.target.dir, 'flock.lock');
  // util-linux flock(1) holds an exclusive flock on the file while it sleeps.
  const holder = spawn('flock', ['-x', file, 'sleep', '30'], { stdio: 'ignore' });
  try {
    const ino = statSync(file).ino;
    const deadline = Date.now() + 60_000;
    while (!readFileSync('/proc/locks', 'utf8').split('\n').some((l) => l.includes('FLOCK') && l.includes(`:${ino} `))) {
      if (Date.now() > deadline) throw new Error('flock(1) did not take its lock');
      sleepSync(10);
    }
    const dir = imagesCopy(d);
    await assert.rejects(restore({ dir, detach: true }), (e: unknown) => {
      assert.ok(e instanceof RestoreError);
      assert.match(e.message, new RegExp(`^(EWOULDBLOCK|EAGAIN) from flock\\(\\d+, LOCK_EX\\|LOCK_NB\\) in process ${d.pid}: cannot take the flock write lock of process ${d.pid} \\(fd \\d+\\) on ${file.replace(/[.]/g, '\\.')} again: another process holds a conflicting lock on it now \\(the half-restored tree of process ${d.pid} was killed\\)$`));
      return true;
    });
    assert.equal(nothingLeftBehind(d.pid), undefined);
    assert.ok(waitGone(Number(d.target.ready.child)));
  } finally {
    holder.kill('SIGKILL');
  }
});

test('leases: a read and a write lease (F_SETLEASE) are dumped as CRIU writes them and taken again; a dropped one FAILs', async () => {
  const FL_LEASE = 8;
  const d = await startAndDump('rt-lease');
  all.push(d);
  const leases = locksOf(d.images).filter((l) => Number(l.flag) === FL_LEASE);
  assert.deepEqual(leases.map((l) => [Number(l.fd), Number(l.type ?? 0)]).sort(), [[Number(d.target.ready.r), F_RDLCK], [Number(d.target.ready.w), F_WRLCK]].sort());
  assert.equal(await restoreAndFinish(d), 'PASS');
  const out = await restoreAndFinish(d, (dir) => {
    const file = path.join(dir, 'filelocks.img');
    const img = decodeImageFile(file);
    writeFileSync(file, encodeImage({ ...img, entries: img.entries.filter((e) => !(Number(e.value.flag) === FL_LEASE && Number(e.value.fd) === Number(d.target.ready.r))) }));
  });
  assert.match(out, /^FAIL: leases 2 1, want F_RDLCK 0 and F_WRLCK 1/);
});

test('a dump that leaves the task running does not break its leases (cryo reads the file through its own copy of the descriptor)', async () => {
  const t = startTarget('rt-lease');
  try {
    await dump({ pid: t.pid, dir: path.join(t.dir, 'images'), leaveRunning: true });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
