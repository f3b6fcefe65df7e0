// Load: ten dumps of different processes at once through the command line, then ten restores at
// once, and each program's own check after; and a dump of a process whose threads write memory on
// every core (test/programs/rt-write-load.c), which must come back consistent: each writer finds
// every slot in step, and a byte changed in the dumped memory is found by the writer it belongs to.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, nothingLeftBehind, waitGone } from '../helpers/restore-env.js';
import { cleanupDumped, dumpedTree, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { flipDumpedByte } from '../helpers/dumped-memory.js';
import { withoutNodeNoise } from '../helpers/node-noise.js';

/** dist/cryo-cli.cjs, the package's bin, from dist/test/e2e. */
const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'cryo-cli.cjs');

/** `cryo ARGS` as a process of its own; resolves to its exit status and error output. */
function cryo(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('close', (status) => resolve({ status, stderr: withoutNodeNoise(stderr) }));
  });
}

const targets: Target[] = [];
const dumps: Dumped[] = [];
after(() => { targets.forEach((t) => t.cleanup()); dumps.forEach(cleanupDumped); });

const TEN = ['rt-mem', 'rt-threads', 'rt-tree', 'rt-sig', 'rt-shmem', 'rt-unix', 'rt-task-timers', 'rt-task-prctl', 'rt-task-rlimit', 'rt-write-load'];

test('ten dumps of different processes at once, then ten restores at once: each program finds its state', { timeout: 600_000 }, async () => {
  becomeSubreaper();
  const started = TEN.map((name) => startTarget(name));
  targets.push(...started);
  const dirs = started.map((t) => path.join(t.dir, 'images'));
  const dumped = await Promise.all(started.map((t, i) => cryo(['dump', '-t', String(t.pid), '-D', dirs[i]!])));
  dumped.forEach((r, i) => assert.equal(r.status, 0, `cryo dump of ${TEN[i]}: ${r.stderr}`));
  for (const dir of dirs) for (const { pid } of dumpedTree(dir)) assert.ok(waitGone(pid), `dumped task ${pid} is gone`);
  const restored = await Promise.all(dirs.map((dir) => cryo(['restore', '-D', dir, '-d'])));
  restored.forEach((r, i) => assert.equal(r.status, 0, `cryo restore of ${TEN[i]}: ${r.stderr}`));
  started.forEach((t, i) => assert.equal(t.finish(), 'PASS', TEN[i]));
  for (const t of started) assert.equal(nothingLeftBehind(t.pid), undefined);
});

test('a process writing memory on every core is dumped consistent; a changed byte is found by its writer', { timeout: 300_000 }, async () => {
  const d = await startAndDump('rt-write-load');
  dumps.push(d);
  assert.equal(await restoreAndFinish(d), 'PASS');
  const region = BigInt(d.target.ready.regions!.split(',')[0]!);
  const out = await restoreAndFinish(d, (dir) => flipDumpedByte(dir, d.pid, region + 40_000n * 8n + 3n, 0x10));
  assert.match(out, /^FAIL: writer 0 found 1 slots out of step, the first at slot 40000/);
});
