// waitForStop against real tasks: blocked in wait4 until the stop, bounded by a timer whose signal
// never reaches anything else of Node's.
import assert from 'node:assert/strict';
import { spawn as spawnChild } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { test } from 'node:test';
import {
  WaitError, __WALL, exitCode, exited, kill, ptrace, rawSyscall, spawn, stopSig, waitForStop, waitpid,
} from '../../src/sys/index.js';

const S = constants.signals;

/** A task of ours, seized (traced, running): `sh -c SCRIPT`. */
function seized(script: string): number {
  const pid = spawn({ path: '/bin/sh', argv: ['sh', '-c', script] });
  ptrace.seize(pid);
  return pid;
}

function end(pid: number): void {
  try { kill(pid, S.SIGKILL); } catch { /* gone */ }
  waitpid(pid, __WALL);
}

/** nanosleep(ms) on this thread: false when a signal cut it short (EINTR). */
function sleepWhole(ms: number): boolean {
  const ts = new BigInt64Array([0n, BigInt(ms * 1e6)]);
  try {
    rawSyscall('nanosleep', ts, null);
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'EINTR') return false;
    throw e;
  }
}

test('waitForStop is woken by the stop itself, and Node still reaps its own children (SIGCHLD) after', async () => {
  const pid = seized('exec sleep 1000');
  // Another process stops it 300 ms from now, while this thread is blocked in waitForStop (the clock
  // starts before the spawn: a slow machine's spawn returns with the shell's sleep under way).
  const t0 = performance.now();
  const stopper = spawnChild('/bin/sh', ['-c', `sleep 0.3; kill -STOP ${pid}`], { stdio: 'ignore' });
  try {
    const st = waitForStop(pid, { timeoutMs: 20_000 });
    const took = performance.now() - t0;
    assert.equal(st.pid, pid);
    assert.equal(stopSig(st.status), S.SIGSTOP);
    assert.ok(took >= 290 && took < 15_000, `woke after ${took.toFixed(0)} ms`);
    const [code] = await once(stopper, 'exit');
    assert.equal(code, 0);
  } finally {
    end(pid);
  }
});

test('a task that never stops is a WaitError at the bound, and the bound\'s signal reaches nothing after it', () => {
  const pid = seized('exec sleep 1000');
  try {
    for (const bound of [300, 30]) {
      const t0 = performance.now();
      assert.throws(() => waitForStop(pid, { timeoutMs: bound }), (e: unknown) => {
        assert.ok(e instanceof WaitError);
        assert.equal(e.message, `task ${pid} did not stop within ${bound} ms (is it traced by cryo, or in uninterruptible sleep?)`);
        return true;
      });
      const took = performance.now() - t0;
      assert.ok(took >= bound - 1 && took < bound + 2000, `a ${bound} ms bound fired after ${took.toFixed(1)} ms`);
      // The timer is off: a blocking call of this thread after it is not cut short (it refires
      // every 2 ms while armed), and nothing of it is left pending.
      assert.ok(sleepWhole(50), 'nanosleep after waitForStop was interrupted');
      const status = readFileSync('/proc/thread-self/status', 'utf8');
      assert.match(status, /SigPnd:\s+0+\n/);
    }
  } finally {
    end(pid);
  }
});

test('a task that exits instead of stopping is a WaitError carrying its status', () => {
  // exec: a child of the shell would stop it (its SIGCHLD is a signal-delivery stop of a traced task).
  const pid = seized('exec sleep 0.2');
  let status: number | undefined;
  assert.throws(() => waitForStop(pid, { timeoutMs: 20_000 }), (e: unknown) => {
    assert.ok(e instanceof WaitError);
    assert.equal(e.message, `task ${pid} exited with code 0 while cryo waited for it to stop`);
    status = e.status;
    return true;
  });
  assert.ok(status !== undefined && exited(status) && exitCode(status) === 0);
});

test('a stop already there is returned without waiting, as is a zero bound\'s', () => {
  const pid = seized('exec sleep 1000');
  try {
    ptrace.interrupt(pid);
    const st = waitForStop(pid, { timeoutMs: 20_000 });
    assert.equal(st.pid, pid);
    ptrace.cont(pid);
    assert.throws(() => waitForStop(pid, { timeoutMs: 0 }), WaitError);
    ptrace.interrupt(pid);
    const t0 = performance.now();
    for (;;) {
      // The stop comes within microseconds; a zero bound only looks.
      try { waitForStop(pid, { timeoutMs: 0 }); break; } catch (e) { if (!(e instanceof WaitError)) throw e; }
      assert.ok(performance.now() - t0 < 10_000, 'no stop after PTRACE_INTERRUPT');
    }
  } finally {
    end(pid);
  }
});
