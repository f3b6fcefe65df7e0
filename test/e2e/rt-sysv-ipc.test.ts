// System V IPC: test/programs/rt-sysv-ipc.c makes a segment and a private one, both attached, a
// semaphore set and a message queue. The dump writes the ones the task uses (not a
// segment of another program) with ids, keys, modes and contents; the objects outlive the killed
// task (segments too where kernel.shm_rmid_forced is 0): a restore uses them as they are while
// they are identical to the dumped ones, and refuses (leaving nothing behind, and the object it
// found alone) once one changed; once they are removed, restore makes them again with the same ids and attaches the segment where it
// was, and the program finds each object as it was. Edited images (a segment byte, a semaphore
// value, a message's text, a mode) fail the program's checks. A segment marked for removal while
// attached comes back marked (and goes at its last detach). Semaphore undo values: rt-sem-undo.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { rawSyscall } from '../../src/sys/index.js';
import { SHM_DEST, ipcRemove, listIpc, semValues, type IpcKind } from '../../src/shared/sysv-ipc.js';

const SETVAL = 16;
import { restoreTask } from '../helpers/cryo-ops.js';
import { imagesCopy, cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { nothingLeftBehind } from '../helpers/restore-env.js';

const all: Dumped[] = [];
let other = -1;
after(() => {
  all.forEach((d) => { removeObjects(d); cleanupDumped(d); });
  if (other >= 0) try { ipcRemove('shm', other); } catch { /* gone */ }
});

let d: Dumped;
const ids = (x: Dumped): [IpcKind, number][] => [['shm', Number(x.target.ready.shm)], ['shm', Number(x.target.ready.priv)], ['shm', Number(x.target.ready.gone)], ['sem', Number(x.target.ready.sem)], ['msg', Number(x.target.ready.msg)]];
function removeObjects(x: Dumped): void {
  for (const [k, id] of ids(x)) try { ipcRemove(k, id); } catch { /* gone */ }
}
const nsImage = (dir: string, kind: string) => `ipcns-${kind}-${ipcNs(dir)}.img`;
function ipcNs(dir: string): number {
  const inv = decodeImageFile(path.join(dir, 'inventory.img')).entries[0]!.value;
  return Number((inv.root_ids as MessageValue).ipc_ns_id);
}
/** Edits an image's entries and their extra payloads in place. */
function editExtras(dir: string, file: string, edit: (entries: { value: MessageValue; extra?: unknown }[]) => void): void {
  const img = decodeImageFile(path.join(dir, file));
  edit(img.entries as { value: MessageValue; extra?: unknown }[]);
  writeFileSync(path.join(dir, file), encodeImage(img));
}

test('System V objects the task uses are dumped with ids, keys, modes and contents; another program\'s are not', async () => {
  // A segment this test makes (the dumped task never touches it).
  other = Number(rawSyscall('shmget', 0, 4096, 0o1000 | 0o600));
  d = await startAndDump('rt-sysv-ipc');
  all.push(d);
  const entries = (kind: string) => decodeImageFile(path.join(d.images, nsImage(d.images, kind))).entries;
  const shm = entries('shm');
  assert.deepEqual(shm.map((e) => Number((e.value.desc as MessageValue).id)).sort(), [Number(d.target.ready.shm), Number(d.target.ready.priv), Number(d.target.ready.gone)].sort());
  // Marked for removal: SHM_DEST in its mode, its key IPC_PRIVATE; it went with the killed task's detach.
  const gone = shm.find((e) => Number((e.value.desc as MessageValue).id) === Number(d.target.ready.gone))!;
  assert.equal(Number((gone.value.desc as MessageValue).mode) & SHM_DEST, SHM_DEST);
  assert.equal((gone.extra as Buffer).subarray(0, 7).toString(), 'removed');
  assert.ok(!listIpc('shm').some((o) => o.id === Number(d.target.ready.gone)), 'the removed segment went with the killed task');
  const big = shm.find((e) => Number((e.value.desc as MessageValue).id) === Number(d.target.ready.shm))!;
  assert.equal(Number((big.value.desc as MessageValue).mode) & 0o777, 0o640);
  assert.equal((big.extra as Buffer)[9], (9 * 7 + 3) & 0xff);
  assert.deepEqual(entries('sem')[0]!.extra, [3, 0, 7]);
  const msg = entries('msg')[0]!;
  assert.equal(Number(msg.value.qbytes), 4000);
  assert.equal(((msg.extra as unknown[])[3] as Buffer).toString(), 'second message');
  const mm = decodeImageFile(path.join(d.images, `mm-${d.pid}.img`)).entries[0]!.value;
  const att = (mm.vmas as MessageValue[]).filter((v) => Number(v.status) & (1 << 10));
  assert.deepEqual(att.map((v) => [Number(v.shmid), `0x${BigInt(v.start as bigint).toString(16)}`]).sort(),
    [[Number(d.target.ready.shm), d.target.ready.p], [Number(d.target.ready.priv), d.target.ready.q], [Number(d.target.ready.gone), d.target.ready.g]].sort());
});

test('a leftover object with the dumped id that changed since (a semaphore value) is refused, leaving nothing behind and the object as it was', async () => {
  const sem = Number(d.target.ready.sem);
  assert.ok(listIpc('sem').some((o) => o.id === sem), 'the semaphore set outlived the killed task');
  rawSyscall('semctl', sem, 2, SETVAL, 9);
  try {
    const dir = imagesCopy(d);
    await assert.rejects(restoreTask({ dir }), (e: Error) => {
      assert.match(e.message, new RegExp(`System V semaphore set ${sem} .* cannot be made again: this machine has semaphore set ${sem} .*, not the same as the dumped one; .*ipcrm -s ${sem}`));
      return true;
    });
    assert.equal(nothingLeftBehind(d.pid), undefined);
    assert.deepEqual(semValues(sem, 3), [3, 0, 9], 'the failed restore left the object it found alone');
  } finally {
    rawSyscall('semctl', sem, 2, SETVAL, 7);
  }
});

test('leftover objects identical to the dumped ones (the killed task\'s own) are used as they are: the program finds every object as it was', async () => {
  const before = listIpc('msg').filter((o) => o.id === Number(d.target.ready.msg));
  assert.equal(before.length, 1, 'the queue outlived the killed task');
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.ok(!listIpc('msg').some((o) => o.id === Number(d.target.ready.msg)), 'the program removed its objects at the end');
});

test('restored with the same ids, the segment attached where it was: the program finds every object as it was', async () => {
  removeObjects(d);
  assert.equal(await restoreAndFinish(d), 'PASS');
  assert.ok(!listIpc('shm').some((o) => o.id === Number(d.target.ready.shm)), 'the program removed its objects at the end');
});

const failing = async (edit: (dir: string) => void) => {
  removeObjects(d);
  try {
    return await restoreAndFinish(d, edit);
  } finally {
    removeObjects(d);
  }
};

test('edited image: a byte of the attached segment fails the check', async () => {
  assert.match(await failing((dir) => editExtras(dir, nsImage(dir, 'shm'), (es) => {
    const e = es.find((x) => Number((x.value.desc as MessageValue).id) === Number(d.target.ready.shm))!;
    (e.extra as Buffer)[1234] ^= 0xff;
  })), /^FAIL: segment byte 1234 is/);
});

test('edited image: a semaphore value fails the check', async () => {
  assert.match(await failing((dir) => editExtras(dir, nsImage(dir, 'sem'), (es) => { (es[0]!.extra as number[])[2] = 8; })), /^FAIL: the semaphores are 3 0 8/);
});

test('edited image: a message\'s text fails the check', async () => {
  assert.match(await failing((dir) => editExtras(dir, nsImage(dir, 'msg'), (es) => { ((es[0]!.extra as unknown[])[1] as Buffer).write('F'); })), /^FAIL: first message: 5 bytes, type 5, 'First'/);
});

test('edited image: the removed segment without SHM_DEST fails the check (it would outlive the program)', async () => {
  assert.match(await failing((dir) => editExtras(dir, nsImage(dir, 'shm'), (es) => {
    const e = es.find((x) => Number((x.value.desc as MessageValue).id) === Number(d.target.ready.gone))!;
    (e.value.desc as MessageValue).mode = 0o600;
  })), /^FAIL: the removed segment is not marked for removal \(mode 0600\)/);
});

test('edited image: the segment\'s mode fails the check', async () => {
  assert.match(await failing((dir) => editExtras(dir, nsImage(dir, 'shm'), (es) => {
    const e = es.find((x) => Number((x.value.desc as MessageValue).id) === Number(d.target.ready.shm))!;
    (e.value.desc as MessageValue).mode = 0o600;
  })), /^FAIL: the segment has mode 0600, want 0640/);
});
