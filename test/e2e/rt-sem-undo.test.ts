// System V semaphore undo values (SEM_UNDO): test/programs/rt-sysv-ipc.c 'undo' has a child u whose
// undo values are -1 and +2 on a set of two semaphores. The dump reads them (the frozen u applies
// them by unshare(CLONE_SYSVSEM), then takes them back), writes cryo-sem-undo.img, and the restored
// u takes them again: the values are the same before u exits, and u's exit applies its undo values
// (the program checks both). A task dumped with --leave-running keeps its undo values; edited
// images (another value, no undo image) fail. While another process waits on the set, the dump is
// refused (applying the values could wake it) and the task runs on unharmed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { CRYO_SEM_UNDO_IMAGE, readSemUndo, writeSemUndo } from '../../src/images/cryo-sem-undo.js';
import { ipcRemove } from '../../src/shared/sysv-ipc.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

/** Restores a copy of the dump, `edit`ed; the set outlives the killed task, and the program removes it at its end. */
function restoreEdited(edit?: (dir: string) => void): Promise<string> {
  try { ipcRemove('sem', Number(d!.target.ready.sem)); } catch { /* removed by the last run */ }
  return restoreAndFinish(d!, edit);
}

test('a child\'s semaphore undo values come back: the same values before it exits, its undo values applied when it does', async () => {
  d = await startAndDump('rt-sysv-ipc', ['undo']);
  const u = Number(d.target.ready.u);
  const sem = Number(d.target.ready.sem);
  assert.deepEqual(readSemUndo(d.images), [{ pid: u, semid: sem, semadj: [-1, 2] }]);
  assert.equal(await restoreEdited(), 'PASS');
});

test('edited images fail: another undo value; no undo image (the values would not be undone)', async () => {
  assert.match(await restoreEdited((dir) => {
    const [e] = readSemUndo(dir);
    writeSemUndo(dir, [{ ...e!, semadj: [-1, 1] }]);
  }), /^FAIL: after u exits the values are 0 4, want 0 5/);
  assert.match(await restoreEdited((dir) => rmSync(path.join(dir, CRYO_SEM_UNDO_IMAGE))), /^FAIL: after u exits the values are 1 3, want 0 5/);
});

test('dumped with --leave-running, the task keeps its undo values and its semaphores', async () => {
  const t = startTarget('rt-sysv-ipc', ['undo']);
  try {
    await dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images'), leaveRunning: true });
    assert.deepEqual(readSemUndo(path.join(t.dir, 'images')).map((x) => x.semadj), [[-1, 2]]);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('another process waiting on the set: the dump is refused naming the semaphore, the task runs on unharmed', async () => {
  const t = startTarget('rt-sysv-ipc', ['undo']);
  const w = startTarget('rt-sysv-ipc', ['semwait', t.ready.sem!]);
  try {
    // Asleep in semop once its READY line is out (state S in /proc/PID/stat).
    for (let i = 0; i < 500 && !/^\d+ \(.*\) S /.test(readFileSync(`/proc/${w.pid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 10));
    await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      (e: Error) => new RegExp(`waits on semaphore 1 of set ${t.ready.sem}`).test(e.message));
    w.cleanup();
    assert.equal(t.finish(), 'PASS');
  } finally {
    w.cleanup();
    t.cleanup();
  }
});
