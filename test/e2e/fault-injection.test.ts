// CRYO_FAULT (src/fault.ts): a dump or a restore made to fail at a chosen point, or paused there and
// interrupted by a signal. A failed or interrupted dump leaves the task as it was; a failed or
// interrupted restore leaves nothing behind (no process, no ghost file). The numbered points
// (every step, injected system call, /proc read, image file written or read) are walked at
// evenly spaced samples, the first and the last included.

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { faultCount, parseFaults } from '../../src/fault.js';
import { kill } from '../../src/sys/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { becomeSubreaper, nothingLeftBehind } from '../helpers/restore-env.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { cryoCli } from '../helpers/cryo-cli.js';

let ghost: Dumped | undefined;
before(async () => { ghost = await startAndDump('rt-files-ghost'); });
after(() => cleanupDumped(ghost));

const tracer = (pid: number) => Number(/TracerPid:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
const ghostFiles = () => ['small-ghost', 'big-ghost'].map((f) => path.join(ghost!.target.dir, f));

/** About `n` points out of 1..count, evenly spaced, with the first three and the last. */
function samples(count: number, n: number): number[] {
  const out = new Set([1, 2, 3, count]);
  for (let i = 1; i < n; i++) out.add(Math.max(1, Math.round((i * count) / n)));
  return [...out].filter((x) => x >= 1 && x <= count).sort((a, b) => a - b);
}

/** Every file of an image directory with its mode and a hash of its bytes. */
function dirState(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => {
    const p = path.join(dir, f);
    return [f, `${statSync(p).mode.toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`];
  }));
}

async function withFault<T>(spec: string, fn: () => Promise<T>): Promise<T> {
  process.env.CRYO_FAULT = spec;
  try {
    return await fn();
  } finally {
    delete process.env.CRYO_FAULT;
  }
}

test('CRYO_FAULT: a malformed spec is one line naming what is wrong', () => {
  assert.deepEqual(parseFaults('dump:scratch,restore:12,dump:write:pause,dump:9:kill,dump:memory:kill,dump:4:kill-in-call,dump:scratch:kill-in-call').map((p) => [p.op, p.step ?? p.nth, p.action]),
    [['dump', 'scratch', 'fail'], ['restore', 12, 'fail'], ['dump', 'write', 'pause'], ['dump', 9, 'kill'], ['dump', 'memory', 'kill'], ['dump', 4, 'kill-in-call'], ['dump', 'scratch', 'kill-in-call']]);
  assert.throws(() => parseFaults('undump:3'), /CRYO_FAULT=undump:3: 'undump' is no operation/);
  assert.throws(() => parseFaults('dump:0'), /points count from 1/);
  assert.throws(() => parseFaults('dump:7:pause'), /only a named step can pause/);
  assert.throws(() => parseFaults('dump:write:explode'), /'explode' is no action/);
});

test('a dump failed at any point leaves the task as it was', async () => {
  const t = startTarget('dump-state');
  try {
    const maps = readFileSync(`/proc/${t.pid}/maps`, 'utf8');
    await dump({ pid: t.pid, dir: path.join(t.dir, 'counting'), leaveRunning: true });
    const count = faultCount('dump')!;
    assert.ok(count > 50, `only ${count} points counted in a dump`);
    // The task's state alone fixes the points, and a fault at N fails at N (no caller shrugs it off).
    for (const n of samples(count, 30)) {
      await assert.rejects(withFault(`dump:${n}`, () => dump({ pid: t.pid, dir: path.join(t.dir, `img-${n}`), leaveRunning: true })),
        new RegExp(`fault injected at dump point ${n} \\(.*\\) \\(CRYO_FAULT=dump:${n}\\)`));
      assert.equal(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), maps, `point ${n}: no area of cryo's left`);
      assert.equal(tracer(t.pid), 0, `point ${n}: detached`);
    }
    assert.equal(t.finish(), 'PASS', 'the task checks its own state: registers, memory, signals, descriptors');
  } finally {
    t.cleanup();
  }
});

test('a restore failed at any point leaves nothing behind', async () => {
  assert.ok(ghost);
  assert.equal(await restoreAndFinish(ghost), 'PASS');
  const count = faultCount('restore')!;
  assert.ok(count > 50, `only ${count} points counted in a restore`);
  for (const n of samples(count, 30)) {
    const dir = imagesCopy(ghost);
    const before = dirState(dir);
    await assert.rejects(withFault(`restore:${n}`, () => restore({ dir, detach: true })), (e: unknown) => {
      assert.ok(e instanceof RestoreError, String(e));
      assert.match(e.message, new RegExp(`fault injected at restore point \\d+ \\(.*\\(CRYO_FAULT=restore:${n}\\)`));
      return true;
    });
    assert.equal(nothingLeftBehind(ghost.pid), undefined, `point ${n}`);
    assert.deepEqual(dirState(dir), before, `point ${n}: the image directory is as it was`);
    assert.deepEqual(ghostFiles().filter((f) => existsSync(f)), [], `point ${n}: no ghost file left`);
  }
});

// Every terminating signal cryo can catch ends a restore that has started the same way.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGPWR'] as const) {
  test(`${sig} to cryo restore after the point of no return: the half-restored task is killed and reaped, its ghost files removed`, async () => {
    assert.ok(ghost);
    becomeSubreaper();
    const child = spawn(process.execPath, [cryoCli, 'restore', '-D', imagesCopy(ghost)], {
      env: { ...process.env, CRYO_FAULT: 'restore:memory:pause' }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/paused at restore step 'memory'/.test(err)) resolve();
      });
      void exit.then(() => reject(new Error(`cryo restore ended before pausing: ${err}`)));
    });
    assert.ok(existsSync(`/proc/${ghost.pid}`), 'the stub exists');
    assert.deepEqual(ghostFiles().filter((f) => existsSync(f)), ghostFiles(), 'the ghost files are back for now');
    child.kill(sig);
    assert.equal(await exit, 1);
    assert.match(err, /cryo: restore: the restore was aborted \(the half-restored process \d+ was killed\)\n$/);
    assert.equal(nothingLeftBehind(ghost.pid), undefined);
    assert.deepEqual(ghostFiles().filter((f) => existsSync(f)), [], 'no ghost file left');
    try { kill(ghost.pid, 0); assert.fail('the task is still there'); } catch { /* gone */ }
  });
}
