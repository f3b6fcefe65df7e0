// The final dump of `cryo migrate` keeps the task's memory in a keeper (src/dump/mm-keeper.ts): an
// injected clone(CLONE_VM | CLONE_PTRACE) of the task, stopped under cryo and never run, made with
// the clone argument order of the architecture (SyscallAbi.cloneArgOrder). test/programs/rt-lazy.c
// holds 64 MiB of patterned memory. Dumped with keepMemory, its PID is free at once; one keeper,
// traced by this process, holds the task's memory (its RSS), no descriptors, in a session of its
// own; the restore from the images runs, and the program finds every byte; releasing the memory
// ends the keeper. The negative: a dump without keepMemory leaves no keeper.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { __WALL, waitpid } from '../../src/sys/index.js';
import { restoreTask } from '../helpers/cryo-ops.js';
import { startTarget } from '../helpers/dump-target.js';
import { becomeSubreaper, cleanedUpAfterFile, waitGone } from '../helpers/restore-env.js';

const { targets } = cleanedUpAfterFile();

/** The processes this one traces that sit in a stop: keepers, once the dumped task is gone. */
function tracedHere(): { pid: number; rssKb: number; sid: number; fds: number }[] {
  const out: { pid: number; rssKb: number; sid: number; fds: number }[] = [];
  for (const n of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let status: string;
    try { status = readFileSync(`/proc/${n}/status`, 'utf8'); } catch { continue; }
    if (Number(/^TracerPid:\s+(\d+)/m.exec(status)?.[1]) !== process.pid || !/^State:\s+t/m.test(status)) continue;
    const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ pid: Number(n), rssKb: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0), sid: Number(fields[3]), fds: readdirSync(`/proc/${n}/fd`).length });
  }
  return out;
}

test('a dump that keeps the memory: the PID is free at once, a keeper holds the memory until released, the restore finds every byte', async () => {
  becomeSubreaper();
  const t = startTarget('rt-lazy');
  targets.push(t);
  const dir = path.join(t.dir, 'dump');
  const res = await dump({ pid: t.pid, dir, keepMemory: true });
  try { waitpid(t.pid, __WALL); } catch { /* reaped */ }
  assert.ok(waitGone(t.pid, 2000), 'the dumped task is gone, its PID free');
  const keepers = tracedHere();
  assert.equal(keepers.length, 1, `one keeper: ${JSON.stringify(keepers)}`);
  const k = keepers[0]!;
  assert.ok(k.rssKb >= 64 * 1024, `the keeper holds the task's 64 MiB (VmRSS ${k.rssKb} kB)`);
  assert.equal(k.fds, 0, 'the keeper holds no descriptors');
  assert.equal(k.sid, k.pid, 'the keeper leads a session of its own');
  try {
    const r = await restoreTask({ dir });
    assert.equal(r.pid, t.pid);
    assert.equal(t.finish(), 'PASS');
  } finally {
    res.releaseMemory!();
  }
  try { waitpid(k.pid, __WALL); } catch { /* reaped */ }
  assert.ok(waitGone(k.pid, 5000), 'released, the keeper is gone');
});

test('a dump that does not keep the memory leaves no keeper', async () => {
  becomeSubreaper();
  const t = startTarget('rt-lazy');
  targets.push(t);
  const res = await dump({ pid: t.pid, dir: path.join(t.dir, 'dump') });
  try { waitpid(t.pid, __WALL); } catch { /* reaped */ }
  assert.ok(waitGone(t.pid, 5000));
  assert.equal(res.releaseMemory, undefined);
  assert.deepEqual(tracedHere(), []);
});
