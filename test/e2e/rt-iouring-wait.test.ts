// A thread waiting in io_uring_enter for completions when cryo's freeze stops it (PTRACE_INTERRUPT)
// gets EINTR from the kernel, which does not restart that wait; cryo puts the thread back into the
// wait when nothing was submitted (README, io_uring). test/programs/rt-iouring-wait.c waits so until
// SIGTERM and fails on any EINTR SIGTERM did not cause: under a bare ptrace seize, interrupt and
// detach (no cryo) it fails, which shows the check can fail; dumps that leave it running and a dump
// restored must leave it waiting, unharmed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ptrace } from '../../src/sys/index.js';
import { syscallNumber } from '../../src/sys/syscall-table.js';
import { waitInterruptStop } from '../../src/dump/threads.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { waitInSyscall, dumpInSyscall } from '../helpers/dump-in-syscall.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, type Dumped } from '../helpers/round-trip.js';
import { onlyOn } from '../helpers/arch-only.js';

const IO_URING_ENTER = syscallNumber('io_uring_enter');
// arm64's ptrace shows neither the call a stopped thread returns from nor its first argument.
const restarts = onlyOn(['x64', 'ppc64', 's390x'], 'the wait put back by cryo');

const targets: Target[] = [];
const dumped: Dumped[] = [];
after(() => {
  targets.forEach((t) => t.cleanup());
  dumped.forEach(cleanupDumped);
});

const start = (): Target => {
  const t = startTarget('rt-iouring-wait');
  targets.push(t);
  return t;
};

test('without cryo: a ptrace seize, interrupt and detach of the waiting thread ends its wait with EINTR, and the program says so', () => {
  const t = start();
  waitInSyscall(t.pid, IO_URING_ENTER, 'rt-iouring-wait');
  ptrace.seize(t.pid);
  ptrace.interrupt(t.pid);
  waitInterruptStop(t.pid);
  ptrace.detach(t.pid);
  waitInSyscall(t.pid, IO_URING_ENTER, 'rt-iouring-wait');
  assert.match(t.finish(), /^FAIL: io_uring_enter ended with EINTR without a signal \(1 of \d+ waits\)/);
});

test('dumped three times with --leave-running while it waits in io_uring_enter, it waits on unharmed', { skip: restarts }, async () => {
  const t = start();
  for (let i = 0; i < 3; i++) {
    waitInSyscall(t.pid, IO_URING_ENTER, 'rt-iouring-wait');
    await dumpTask({ pid: t.pid, dir: path.join(t.dir, `images-${i}`), leaveRunning: true });
  }
  waitInSyscall(t.pid, IO_URING_ENTER, 'rt-iouring-wait');
  assert.equal(t.finish(), 'PASS');
});

test('dumped while it waits in io_uring_enter and restored, it waits again', { skip: restarts }, async () => {
  const d = await dumpInSyscall('rt-iouring-wait', [], IO_URING_ENTER);
  dumped.push(d);
  assert.equal(await restoreAndFinish(d, undefined, { inSyscall: IO_URING_ENTER }), 'PASS');
});
