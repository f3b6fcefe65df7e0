// Issue 15, SIGKILL of cryo dump while threads sit in restartable timed calls (test/programs/
// rt-sleep-kill.c: nanosleep, clock_nanosleep relative and absolute, poll and a futex wait with a
// timeout, one thread each, round after round). Interrupted by the dump, the relative ones are to
// be restarted by the kernel from its restart block (ERESTART_RESTARTBLOCK), which rt_sigreturn
// drops: a thread that a dead cryo leaves to run into the call ending's rt_sigreturn sees EINTR
// there, after a part of its sleep. Such a thread holds its own registers between cryo's calls
// (CallSite.ownBetweenCalls), so a kill at any step between them leaves every sleep whole; killed
// inside a call or batch of that thread, its frame runs the interrupted call again from the start
// (RestartRule.onRunOn: a sleep longer than asked, never EINTR). A restore gives EINTR, as CRIU's
// (the restart block is the kernel's): the check's negative.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { hostArch } from '../../src/arch/index.js';
import { sleepSync } from '../../src/sys/index.js';
import { syscallNumber } from '../../src/sys/syscall-table.js';
import { cryoCli } from '../helpers/cryo-cli.js';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump } from '../helpers/round-trip.js';

const arch = await hostArch();
const skip = arch.callThenSigreturn === undefined ? `${arch.name} has no call ending` : false;
const CALLS = ['nanosleep', 'clock_nanosleep', 'clock_nanosleep-abs', 'poll', 'futex'];

/** Each sleeper's thread id and the call it sits in when asleep (/proc/PID/task/TID/syscall). */
function sleepers(t: Target): { tid: number; nr: number }[] {
  let poll: number;
  try { poll = syscallNumber('poll'); } catch { poll = syscallNumber('ppoll'); } // aarch64 has no poll
  const nrs = [syscallNumber('nanosleep'), syscallNumber('clock_nanosleep'), syscallNumber('clock_nanosleep'), poll, syscallNumber('futex')];
  return t.ready.tids!.split(',').map((tid, i) => ({ tid: Number(tid), nr: nrs[i]! }));
}

/** Rounds done per call (DIR/rounds), 0 before the first. */
function rounds(t: Target): number[] {
  let text = '';
  try { text = readFileSync(path.join(t.dir, 'rounds'), 'utf8'); } catch { /* none yet */ }
  return CALLS.map((c) => Number(new RegExp(`^${c} (\\d+) `, 'm').exec(text)?.[1] ?? 0));
}

/** Waits until every sleeper sleeps in its call (after a round that started after `since`, if given). */
function allAsleep(t: Target, since?: number[]): void {
  const asleep = () => sleepers(t).every(({ tid, nr }, i) => (since === undefined || rounds(t)[i]! > since[i]!)
    && readFileSync(`/proc/${t.pid}/task/${tid}/syscall`, 'utf8').split(' ')[0] === String(nr)
    && /^\d+ \(.*\) S /s.test(readFileSync(`/proc/${t.pid}/task/${tid}/stat`, 'utf8')));
  for (const end = Date.now() + 30_000; !asleep(); sleepSync(5)) assert.ok(Date.now() < end, 'every sleeper sits in its call again');
}

/** `cryo dump --leave-running` with CRYO_FAULT=`fault`: the signal that ended it. */
function killedDump(t: Target, env: NodeJS.ProcessEnv): string | null {
  const dir = path.join(t.dir, 'images');
  const r = spawnSync(process.execPath, [cryoCli, 'dump', '-t', String(t.pid), '-D', dir, '--leave-running'], { env: { ...process.env, ...env } });
  rmSync(dir, { recursive: true, force: true });
  return r.signal;
}

test('SIGKILL of cryo dump at each step while threads sleep in nanosleep, clock_nanosleep, poll and a futex wait: every sleep ends by its timeout, whole, with no EINTR', { skip, timeout: 120_000 }, () => {
  const t = startTarget('rt-sleep-kill');
  try {
    for (const step of ['seize', 'task', 'inject', 'scratch', 'memory', 'files', 'write']) {
      allAsleep(t);
      const before = rounds(t);
      assert.equal(killedDump(t, { CRYO_FAULT: `dump:${step}:kill` }), 'SIGKILL', step);
      allAsleep(t, before); // the interrupted round ended (and the program's count says how)
    }
    assert.equal(t.finish(), 'PASS', 'each round slept its whole time and ended by its timeout');
  } finally {
    t.cleanup();
  }
});

test('SIGKILL of cryo dump inside a call or batch it runs in each sleeping thread: that thread runs its call again, whole (no EINTR)', { skip, timeout: 120_000 }, () => {
  const t = startTarget('rt-sleep-kill');
  let verdict = '';
  try {
    allAsleep(t);
    const trace = path.join(t.dir, 'points');
    assert.equal(killedDump(t, { CRYO_FAULT_TRACE: trace }), null);
    const points = readFileSync(trace, 'utf8').trim().split('\n');
    for (const [i, { tid }] of sleepers(t).entries()) {
      const n = points.findIndex((l) => new RegExp(` (code run in|injected into) task ${tid}$`).test(l)) + 1;
      assert.ok(n > 0, `cryo runs calls in the ${CALLS[i]} thread ${tid}`);
      allAsleep(t, rounds(t));
      assert.equal(killedDump(t, { CRYO_FAULT: `dump:${n}:kill-in-call` }), 'SIGKILL', `killed in ${CALLS[i]}'s first call (point ${n})`);
    }
    allAsleep(t, rounds(t));
  } finally {
    verdict = t.finish();
    t.cleanup();
  }
  assert.equal(verdict, 'PASS', 'each round slept its whole time and ended by its timeout');
});

// aarch64's kernel rewinds an interrupted call before the stop (arm64 do_signal): the image runs it
// again, and a restore gives no EINTR there.
const rewinds = arch.name === 'aarch64' ? 'aarch64 rewinds an interrupted call before the stop: a restore runs it again' : false;

test('the check can fail: restored from a dump, the threads in a restart-block call see EINTR (as under CRIU), and rt-sleep-kill says so', { skip: skip || rewinds, timeout: 60_000 }, async () => {
  const d = await startAndDump('rt-sleep-kill');
  try {
    const verdict = await restoreAndFinish(d);
    assert.match(verdict, /^FAIL: .*nanosleep: 1 of \d+ rounds wrong, the first: round \d+ returned -1 \(Interrupted system call\)/);
  } finally {
    cleanupDumped(d);
  }
});
