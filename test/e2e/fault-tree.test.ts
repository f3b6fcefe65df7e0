// Issue 15, "faults at every step", for a tree of three processes with threads, a pipe, a unix
// socketpair and 64 MiB of memory (test/programs/fault-tree.c): a dump made to fail at point N,
// interrupted by SIGTERM, SIGINT or SIGHUP at a step, or out of disk space, leaves every task
// running as before (the tree's own check prints PASS at the end) and no image set restore takes.
// A restore of the tree made to fail at point N, or whose cryo is killed by SIGKILL at a step,
// leaves no process or thread of the tree, no child, no file, and the images as they were.
// SIGKILL of cryo dump at point N, or inside a call it injected (the rt_sigreturn ending), leaves
// every task running on its own registers and signal mask, untraced, and the tree's own check passing.
// CI samples points over the whole range (seeded: CRYO_FAULT_SEED, default 15; the seed is in each
// failure message); scripts/fault-sweep.mjs and scripts/restore-fault-sweep.mjs walk every point.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { faultCount } from '../../src/fault.js';
import { decodeImageFile } from '../../src/images/index.js';
import { kill, sleepSync, waitpid, WNOHANG, __WALL } from '../../src/sys/index.js';
import { cryoCli } from '../helpers/cryo-cli.js';
import { childStates } from '../helpers/restore-env.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { spread } from '../helpers/fault-sweep.js';
import { cliDump, dumpPoints, endTree, fds, harmAfterKill, killInCallLeavesTree, startTree, threadStates, tracer, type Tree } from '../helpers/fault-tree.js';
import { createHash } from 'node:crypto';

const SEED = Number(process.env.CRYO_FAULT_SEED ?? 15);
const SAMPLES = 12;

/** Every task as it was: the same mappings (no area of cryo's left), the same descriptors, not traced. */
function unharmed(tree: Tree, what: string): void {
  tree.pids.forEach((p, i) => {
    assert.equal(readFileSync(`/proc/${p}/maps`, 'utf8'), tree.maps[i], `${what}: task ${p} has no area of cryo's left`);
    assert.deepEqual(fds(p), tree.fds[i], `${what}: task ${p} has no descriptor of cryo's left`);
    assert.equal(tracer(p), 0, `${what}: task ${p} is detached`);
  });
}

/** No image set restore would take: no inventory.img, and restore refuses the directory. */
async function noImageSet(dir: string, what: string): Promise<void> {
  assert.equal(existsSync(path.join(dir, 'inventory.img')), false, `${what}: no inventory.img`);
  if (existsSync(dir)) await assert.rejects(restore({ dir, detach: true }), RestoreError, `${what}: restore refuses it`);
}

test("the tree's own check fails when a word of its memory changed (the PASS the other tests wait for can fail)", () => {
  const tree = startTree();
  const fd = openSync(`/proc/${tree.t.pid}/mem`, 'r+');
  try {
    writeSync(fd, Buffer.alloc(8, 0x5a), 0, 8, Number(BigInt(tree.t.ready.m!)));
  } finally {
    closeSync(fd);
  }
  assert.match(endTree(tree), /^FAIL: root: check 2 failed/);
});

test(`a dump of the tree failed at points spread over all of them (seed ${SEED}) leaves every task as it was`, async () => {
  const tree = startTree();
  try {
    await dump({ pid: tree.t.pid, dir: path.join(tree.t.dir, 'count-1'), leaveRunning: true });
    const count = faultCount('dump')!;
    await dump({ pid: tree.t.pid, dir: path.join(tree.t.dir, 'count-2'), leaveRunning: true });
    assert.equal(faultCount('dump'), count, 'the same tree in the same state counts the same points');
    unharmed(tree, 'after two dumps');
    for (const n of spread(count, SAMPLES, SEED)) {
      const dir = path.join(tree.t.dir, `img-${n}`);
      process.env.CRYO_FAULT = `dump:${n}`;
      try {
        await assert.rejects(dump({ pid: tree.t.pid, dir, leaveRunning: true }),
          new RegExp(`fault injected at dump point ${n} \\(`), `point ${n} of ${count} (seed ${SEED}) fails there`);
      } finally {
        delete process.env.CRYO_FAULT;
      }
      unharmed(tree, `point ${n} of ${count} (seed ${SEED})`);
      await noImageSet(dir, `point ${n} of ${count} (seed ${SEED})`);
    }
  } finally {
    assert.equal(endTree(tree), 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
  }
});

test("the last points of a dump of the tree (its inventory, the manifest) each fail there, and leave no image set", async () => {
  const tree = startTree();
  try {
    const trace = path.join(tree.t.dir, 'points-lib');
    process.env.CRYO_FAULT_TRACE = trace;
    try {
      await dump({ pid: tree.t.pid, dir: path.join(tree.t.dir, 'count'), leaveRunning: true });
    } finally {
      delete process.env.CRYO_FAULT_TRACE;
    }
    const points = readFileSync(trace, 'utf8').trim().split('\n');
    const first = points.findIndex((l) => /inventory\.img\.part$/.test(l)) + 1;
    assert.ok(first > 0 && first < points.length, 'points after the inventory is written (the manifest)');
    // The pagemaps' bytes are the manifest's as written: not read back (no point of their own).
    assert.ok(!points.slice(first).some((l) => / read \S+\/pagemap-\d+\.img$/.test(l)), 'the manifest reads no pagemap back');
    for (let n = first; n <= points.length; n++) {
      const dir = path.join(tree.t.dir, `img-${n}`);
      process.env.CRYO_FAULT = `dump:${n}`;
      try {
        await assert.rejects(dump({ pid: tree.t.pid, dir, leaveRunning: true }), new RegExp(`fault injected at dump point ${n} \\(`), `point ${n}: ${points[n - 1]}`);
      } finally {
        delete process.env.CRYO_FAULT;
      }
      unharmed(tree, `point ${n}`);
      await noImageSet(dir, `point ${n}`);
    }
  } finally {
    assert.equal(endTree(tree), 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
  }
});

test("a dump's points do not depend on cryo's own ancestors (a sweep's count holds when a shell above it ends)", () => {
  const tree = startTree();
  try {
    const count = (shell: boolean) => {
      const trace = path.join(tree.t.dir, `points-${shell}`);
      const args = [cryoCli, 'dump', '-t', String(tree.t.pid), '-D', path.join(tree.t.dir, `d-${shell}`), '--leave-running'];
      // Under `sh -c 'CMD; exit $?'` the shell stays cryo's parent: one ancestor more.
      const r = shell
        ? spawnSync('sh', ['-c', '"$@"; exit $?', 'sh', process.execPath, ...args], { env: { ...process.env, CRYO_FAULT_TRACE: trace } })
        : spawnSync(process.execPath, args, { env: { ...process.env, CRYO_FAULT_TRACE: trace } });
      assert.equal(r.status, 0, String(r.stderr));
      return readFileSync(trace, 'utf8').trim().split('\n').length;
    };
    assert.equal(count(true), count(false));
  } finally {
    assert.equal(endTree(tree), 'PASS');
  }
});

/**
 * The points (from 1) of calls injected into a task after its call-ending area is in place: each
 * task's first call maps that area (inject/call-ending.ts) and runs without it.
 */
function endedCallPoints(points: readonly string[]): number[] {
  const seen = new Map<string, number>();
  return points.flatMap((l, i) => {
    const task = / injected into task (\d+)$/.exec(l)?.[1];
    if (task === undefined) return [];
    const k = (seen.get(task) ?? 0) + 1;
    seen.set(task, k);
    return k > 1 ? [i + 1] : [];
  });
}

test(`killed inside injected calls spread over the dump (seed ${SEED}), cryo leaves each task to rt_sigreturn into its own state and the tree runs on`, () => {
  const tree = startTree();
  let failed = true;
  try {
    const states = tree.pids.map(threadStates);
    const count = endedCallPoints(dumpPoints(tree)).length;
    assert.ok(count > 20, `the dump injects calls after the ending is in place (${count})`);
    for (const k of spread(count, 8, SEED)) {
      // Counted again each time: the areas a killed dump left are more VMAs to read, more points.
      const calls = endedCallPoints(dumpPoints(tree));
      const n = calls[Math.min(k, calls.length) - 1]!;
      killInCallLeavesTree(tree, n, states, `SIGKILL inside the injected call at point ${n} (seed ${SEED})`);
    }
    failed = false;
  } finally {
    const verdict = endTree(tree);
    if (!failed) assert.equal(verdict, 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
  }
});

// One kill inside a call, which the guests run (the spread above takes too long under TCG): the
// first call injected after the root's step 'scratch', when its ending and scratch page are in place.
const KILL_IN_CALL = { CRYO_FAULT: 'dump:scratch:kill-in-call' };

test("one kill inside a call: killed inside the first call injected after the step 'scratch', cryo dump leaves the task to rt_sigreturn into its own state and the tree runs on", () => {
  const tree = startTree();
  let failed = true;
  try {
    const states = tree.pids.map(threadStates);
    assert.equal(cliDump(tree, path.join(tree.t.dir, 'in-call'), KILL_IN_CALL), 'SIGKILL');
    assert.equal(harmAfterKill(tree, states), undefined, 'SIGKILL inside the call');
    failed = false;
  } finally {
    const verdict = endTree(tree);
    if (!failed) assert.equal(verdict, 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
  }
});

test('one kill inside a call, without the rt_sigreturn ending (CRYO_CALL_ENDING=off): the same kill harms the task, and the check after a SIGKILL sees it (it can fail)', () => {
  const tree = startTree();
  try {
    const states = tree.pids.map(threadStates);
    assert.equal(cliDump(tree, path.join(tree.t.dir, 'in-call'), { ...KILL_IN_CALL, CRYO_CALL_ENDING: 'off' }), 'SIGKILL');
    assert.ok(harmAfterKill(tree, states), "killed inside the call, the task holds cryo's registers and mask");
  } finally {
    endTree(tree);
  }
});

test(`SIGKILL of cryo dump at points spread over all of them (seed ${SEED}) leaves every task running on its own state`, () => {
  const tree = startTree();
  let failed = true;
  try {
    const count = dumpPoints(tree).length;
    const states = tree.pids.map(threadStates);
    for (const n of spread(count, SAMPLES, SEED)) {
      const what = `SIGKILL at point ${n} of ${count} (seed ${SEED})`;
      assert.equal(cliDump(tree, path.join(tree.t.dir, `img-${n}`), { CRYO_FAULT: `dump:${n}:kill` }), 'SIGKILL', what);
      assert.equal(harmAfterKill(tree, states), undefined, what);
    }
    failed = false;
  } finally {
    const verdict = endTree(tree);
    if (!failed) assert.equal(verdict, 'PASS', 'every process checks its memory, thread, pipe, socket and parent');
  }
});

for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  test(`${sig} to cryo dump paused at a step leaves the tree as it was and no image set`, async () => {
    const tree = startTree();
    try {
      for (const step of ['inject', 'memory', 'write']) {
        const dir = path.join(tree.t.dir, `img-${step}`);
        const child = spawn(process.execPath, [cryoCli, 'dump', '-t', String(tree.t.pid), '-D', dir, '--leave-running'], {
          env: { ...process.env, CRYO_FAULT: `dump:${step}:pause` }, stdio: ['ignore', 'ignore', 'pipe'],
        });
        let err = '';
        const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        await new Promise<void>((resolve, reject) => {
          child.stderr.on('data', (d: Buffer) => {
            err += d.toString();
            if (err.includes(`paused at dump step '${step}'`)) resolve();
          });
          void exit.then(() => reject(new Error(`cryo dump ended before pausing at ${step}: ${err}`)));
        });
        child.kill(sig);
        assert.equal(await exit, 1, `${sig} at ${step}: ${err}`);
        unharmed(tree, `${sig} at ${step}`);
        await noImageSet(dir, `${sig} at ${step}`);
      }
    } finally {
      assert.equal(endTree(tree), 'PASS');
    }
  });
}

test('a dump of the tree into a full file system (ENOSPC) leaves every task as it was and no image set', async () => {
  const tree = startTree();
  const mnt = mkdtempSync(path.join(tmpdir(), 'cryo-enospc-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mnt]);
  try {
    const dir = path.join(mnt, 'img');
    await assert.rejects(dump({ pid: tree.t.pid, dir, leaveRunning: true }), /ENOSPC|no space/i);
    unharmed(tree, 'ENOSPC');
    await noImageSet(dir, 'ENOSPC');
  } finally {
    const verdict = endTree(tree);
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
    assert.equal(verdict, 'PASS');
  }
});

// Restore. One dump of the tree (the tree is gone after it) is restored from copies.
let dumping: Promise<Dumped> | undefined;
/** The tree dumped once for the restore tests (not at all when a name pattern runs none of them: the guests). */
const dumpedTree = () => (dumping ??= startAndDump('fault-tree'));
after(async () => cleanupDumped(await dumping));

/** Every process and thread the dump names. */
const dumpedTids = (d: Dumped) => decodeImageFile(path.join(d.images, 'pstree.img')).entries
  .flatMap(({ value }) => [Number(value.pid), ...((value.threads ?? []) as unknown[]).map(Number)]);

/** Every file under `dir` with its mode and a hash of its bytes (restore copies left out). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir, { recursive: true }).map(String).sort()) {
    if (f.startsWith('restore-')) continue;
    const p = path.join(dir, f);
    try {
      out.push(`${f} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    } catch {
      out.push(f); // a directory or a socket
    }
  }
  return out;
}

/**
 * What a restore left of the tree: a process or thread, a child of ours in any state (cryo's guard,
 * which comes to us when cryo dies, is given the same time to finish its cleanup). Reaps what died.
 */
function leftOfTree(tids: number[], ms = 20_000): string | undefined {
  const end = Date.now() + ms;
  for (;;) {
    // Processes that came to us (the subreaper) when cryo died: collect the dead ones.
    for (const child of childStates().keys()) { try { waitpid(child, WNOHANG | __WALL); } catch { /* not ours */ } }
    const alive = tids.filter((t) => existsSync(`/proc/${t}`));
    const children = [...childStates()].map(([p, st]) => `${p} (${st})`);
    if (alive.length === 0 && children.length === 0) return undefined;
    if (Date.now() > end) return alive.length > 0 ? `process or thread ${alive.join(', ')} of the tree is still there` : `child ${children.join(', ')} is left`;
    sleepSync(5);
  }
}

async function withFault<T>(spec: string, fn: () => Promise<T>): Promise<T> {
  process.env.CRYO_FAULT = spec;
  try {
    return await fn();
  } finally {
    delete process.env.CRYO_FAULT;
  }
}

test('the check for leftovers finds a restored tree (it can fail)', async () => {
  const dumped = await dumpedTree();
  const tids = dumpedTids(dumped);
  await restore({ dir: imagesCopy(dumped), detach: true });
  assert.match(String(leftOfTree(tids, 300)), /of the tree is still there/);
  for (const p of [dumped.pid, Number(dumped.target.ready.c1), Number(dumped.target.ready.c2)]) { try { kill(p, 9); } catch { /* gone */ } }
  assert.equal(leftOfTree(tids), undefined);
});

test(`a restore of the tree failed at points spread over all of them (seed ${SEED}) leaves nothing behind, in one line`, async () => {
  const dumped = await dumpedTree();
  const tids = dumpedTids(dumped);
  assert.equal(await restoreAndFinish(dumped), 'PASS', 'the tree restored without a fault checks itself');
  const count = faultCount('restore')!;
  assert.ok(count > 100, `only ${count} points counted in a restore of the tree`);
  const around = filesUnder(dumped.target.dir);
  for (const n of spread(count, SAMPLES, SEED)) {
    const what = `point ${n} of ${count} (seed ${SEED})`;
    const dir = imagesCopy(dumped);
    const images = filesUnder(dir);
    await assert.rejects(withFault(`restore:${n}`, () => restore({ dir, detach: true })), (e: unknown) => {
      assert.ok(e instanceof RestoreError, `${what}: ${String(e)}`);
      assert.doesNotMatch(e.message, /\n/, `${what}: one line`);
      assert.match(e.message, new RegExp(`fault injected at restore point \\d+ \\(.*\\(CRYO_FAULT=restore:${n}\\)`), what);
      return true;
    });
    assert.equal(leftOfTree(tids), undefined, what);
    assert.deepEqual(filesUnder(dir), images, `${what}: the images are as they were`);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(filesUnder(dumped.target.dir), around, `${what}: no file left around the program`);
  }
  assert.equal(await restoreAndFinish(dumped), 'PASS', 'the images still restore after the failed restores');
});

// SIGKILL cannot be caught: a restore's processes are tied to cryo's life (PTRACE_O_EXITKILL) until they run.
test('SIGKILL of cryo restore paused at each step leaves no process of the tree', async () => {
  const dumped = await dumpedTree();
  const tids = dumpedTids(dumped);
  for (const step of ['preflight', 'stub', 'memory', 'files', 'task-state', 'resume']) {
    const dir = imagesCopy(dumped);
    const child = spawn(process.execPath, [cryoCli, 'restore', '-D', dir], {
      env: { ...process.env, CRYO_FAULT: `restore:${step}:pause` }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const exit = new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes(`paused at restore step '${step}'`)) resolve();
      });
      void exit.then(() => reject(new Error(`cryo restore ended before pausing at ${step}: ${err}`)));
    });
    if (step !== 'preflight') assert.ok(existsSync(`/proc/${dumped.pid}`), `${step}: the half-restored root exists`);
    child.kill('SIGKILL');
    assert.equal(await exit, 'SIGKILL');
    assert.equal(leftOfTree(tids), undefined, `SIGKILL at ${step}`);
    rmSync(dir, { recursive: true, force: true });
  }
});
