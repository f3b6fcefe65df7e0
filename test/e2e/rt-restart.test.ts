// Syscall restart: test/programs/rt-restart.c is dumped while inside nanosleep (the restart
// block does not survive: EINTR with the remaining time, as under CRIU) or a pipe read (restarted
// transparently: it returns the bytes written after restore). pause() is covered by rt-regs.
// Edited registers (resume after the syscall with another result) prove the checks notice.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, truncateSync, writeFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { restore } from '../../src/restore/index.js';
import { __WALL, kill, sleepSync, waitpid } from '../../src/sys/index.js';
import { syscallNumber } from '../../src/sys/syscall-table.js';
import { nothingLeftBehind } from '../helpers/restore-env.js';
import { dumpInSyscall } from '../helpers/dump-in-syscall.js';
import { returnFromSyscall } from '../helpers/syscall-edit.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, waitForFile, type Dumped } from '../helpers/round-trip.js';

const NR_READ = syscallNumber('read');
const NR_NANOSLEEP = syscallNumber('nanosleep');
const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

/** Registers edited to leave the syscall with `result` (`rewound`: the dump had set it to restart). */
const returnWith = (pid: number, result: bigint, rewound: boolean) => (dir: string) =>
  returnFromSyscall(dir, pid, result, rewound);

const returnedFile = (d: Dumped) => path.join(d.target.dir, 'returned');

test('nanosleep: EINTR with the remaining time after restore (ERESTART_RESTARTBLOCK, as CRIU)', async () => {
  const d = await dumpInSyscall('rt-restart', ['nanosleep'], NR_NANOSLEEP);
  all.push(d);
  const roundTrip = (edit?: (dir: string) => void) => {
    rmSync(returnedFile(d), { force: true });
    return restoreAndFinish(d, edit, { untilFile: returnedFile(d) });
  };
  assert.equal(await roundTrip(), 'PASS');
  assert.match(await roundTrip(returnWith(d.pid, 0n, false)), /^FAIL: nanosleep returned 0 before SIGTERM/);
});

/** Restores, writes `hello` into the task's pipe through /proc/PID/fd/16, then SIGTERM. */
async function restoreWriteFinish(d: Dumped, edit?: (dir: string) => void): Promise<string> {
  const dir = imagesCopy(d, edit);
  truncateSync(d.target.outFile, Buffer.byteLength(d.readyLine) + 1);
  try {
    rmSync(returnedFile(d), { force: true });
    await restore({ dir, detach: true });
    // The restarted read is entered again (or, edited, has returned) before anything is written.
    for (const end = Date.now() + 60_000; !existsSync(returnedFile(d)) && readFileSync(`/proc/${d.pid}/syscall`, 'utf8').split(' ')[0] !== String(NR_READ); sleepSync(2)) {
      assert.ok(Date.now() < end, 'the restored task never sat in read()');
    }
    writeFileSync(`/proc/${d.pid}/fd/16`, 'hello');
    waitForFile(returnedFile(d), `restored task ${d.pid}`);
    return d.target.finish();
  } finally {
    try { kill(d.pid, 9); waitpid(d.pid, __WALL); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
    assert.equal(nothingLeftBehind(d.pid), undefined);
  }
}

test('read on a pipe: restarted transparently (ERESTARTSYS), returns what is written after restore', async () => {
  const d = await dumpInSyscall('rt-restart', ['read'], NR_READ);
  all.push(d);
  assert.equal(await restoreWriteFinish(d), 'PASS');
  assert.match(await restoreWriteFinish(d, returnWith(d.pid, -4n, true)), /^FAIL: read returned -1 \(Interrupted system call\) before SIGTERM/);
});
