// pidfds as zdtm's pidfd_* tests use them: test/programs/rt-pidfd.c holds two pidfds of a live
// child, pidfds of two dead processes (one of them also held by the child), and, with pidfs
// (Linux 6.9+), a pidfd of one of its threads. The dump writes each with the PID it names (-1 for
// a dead process, as CRIU does); after the restore signals reach the child and the thread
// through them, the dead ones say ESRCH and poll readable, and pidfds of one process share an
// inode. Edited images (a live pidfd made dead, a dead one made live) fail the checks.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
/** The pidfd entry behind descriptor `fd` of the root. */
function pidfdOf(dir: string, fd: number): MessageValue {
  const fdinfo = entries(dir, readdirSync(dir).filter((n) => /^fdinfo-\d+\.img$/.test(n)).sort()[0]!);
  const id = Number(fdinfo.find((f) => Number(f.fd) === fd)!.id);
  return entries(dir, 'files.img').find((f) => Number(f.id) === id)!.pidfd as MessageValue;
}
function editPidfd(dir: string, fd: number, edit: (p: MessageValue) => void): void {
  const want = pidfdOf(dir, fd);
  editImage(dir, 'files.img', (es) => edit(es.find((f) => f.pidfd !== undefined && Number((f.pidfd as MessageValue).id) === Number(want.id))!.pidfd as MessageValue));
}
let d: Dumped;
const fdOf = (name: string) => Number(d.target.ready[name]);

test('pidfds of a child, of a thread and of dead processes: dumped with their PIDs (-1 dead), restored working', async () => {
  d = await startAndDump('rt-pidfd');
  all.push(d);
  const c = fdOf('c');
  assert.equal(Number(pidfdOf(d.images, fdOf('pc1')).nspid), c);
  assert.equal(Number(pidfdOf(d.images, fdOf('pc2')).nspid), c);
  for (const n of ['pd1a', 'pd1b', 'pd2']) assert.equal(Number(pidfdOf(d.images, fdOf(n)).nspid), -1, n);
  if (d.target.ready.pidfs === '1') {
    assert.equal(Number(pidfdOf(d.images, fdOf('pd1a')).ino), Number(pidfdOf(d.images, fdOf('pd1b')).ino));
    assert.notEqual(Number(pidfdOf(d.images, fdOf('pd1a')).ino), Number(pidfdOf(d.images, fdOf('pd2')).ino));
    assert.notEqual(Number(pidfdOf(d.images, fdOf('pt')).nspid), d.pid, 'the thread pidfd names the thread');
  }
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: a live pidfd made dead fails the check', async () => {
  assert.match(await restoreAndFinish(d, (dir) => editPidfd(dir, fdOf('pc2'), (p) => { p.nspid = -1; })), /^FAIL: pidfd pc2 of c: signal 0: No such process/);
});

test('edited image: a dead pidfd made live fails the check', async () => {
  assert.match(await restoreAndFinish(d, (dir) => editPidfd(dir, fdOf('pd2'), (p) => { p.nspid = fdOf('c'); })), /^FAIL: dead pidfd pd2: signal 0 succeeded, want ESRCH/);
});
