// Dumping a test program while it sits inside a given system call (READY is written just before
// it enters it): waits until /proc/PID/syscall names that call, then dumps. Gives the same
// Dumped as round-trip.ts's startAndDump, for its restoreAndFinish.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sleepSync } from '../../src/sys/index.js';
import { startTarget } from './dump-target.js';
import { becomeSubreaper, waitGone } from './restore-env.js';
import { dumpTask } from './cryo-ops.js';
import type { Dumped } from './round-trip.js';

/**
 * Waits (60 s at most: a loaded machine is slow, not wrong) until task `pid` sleeps inside system
 * call `nr`. Sleeping, not only named: on ppc64 /proc/PID/syscall names the call from r0 as soon as
 * the trap says "syscall", which it still says right after rt_sigreturn put back a thread that is
 * about to re-enter the call.
 */
export function waitInSyscall(pid: number, nr: number, what: string): void {
  const inCall = () => readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0] === String(nr)
    && /^\d+ \(.*\) S /s.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const deadline = Date.now() + 60_000;
  while (!inCall()) {
    if (Date.now() > deadline) throw new Error(`${what} never entered system call ${nr}`);
    sleepSync(2);
  }
}

export async function dumpInSyscall(name: string, args: string[], nr: number): Promise<Dumped> {
  becomeSubreaper();
  const target = startTarget(name, args);
  const images = path.join(target.dir, 'images');
  try {
    waitInSyscall(target.pid, nr, name);
    await dumpTask({ pid: target.pid, dir: images });
    if (!waitGone(target.pid)) throw new Error(`dumped task ${target.pid} is still there`);
  } catch (e) {
    target.cleanup();
    throw e;
  }
  return { target, pid: target.pid, images, readyLine: readFileSync(target.outFile, 'utf8').split('\n')[0]! };
}
