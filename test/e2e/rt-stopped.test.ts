// Stopped jobs come back stopped: test/programs/rt-stopped.c (a child stopped by SIGSTOP with a
// SIGUSR1 pending, one stopped by SIGTSTP) is dumped as a tree (task_state TASK_STOPPED with
// stop_signo, as CRIU 4.2 writes it), restored, and the root checks both are still stopped by
// their own signal, the pending handler did not run, and both go on after SIGCONT. A dump that
// leaves the tree running leaves the children stopped; an edited stop signal is noticed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const tc = (dir: string, pid: number) => decodeImageFile(path.join(dir, `core-${pid}.img`)).entries[0]!.value.tc as MessageValue;
const state = (pid: number) => /\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1];

test('stopped children: dumped as TASK_STOPPED with their stop signal, restored stopped, go on after SIGCONT', async () => {
  const d = await startAndDump('rt-stopped');
  all.push(d);
  const c1 = Number(d.target.ready.c1);
  const c2 = Number(d.target.ready.c2);
  assert.deepEqual([Number(tc(d.images, c1).task_state), Number(tc(d.images, c1).stop_signo)], [3, 19]);
  assert.deepEqual([Number(tc(d.images, c2).task_state), Number(tc(d.images, c2).stop_signo)], [3, 20]);
  assert.equal(Number(tc(d.images, d.pid).task_state), 1);
  assert.equal(await restoreAndFinish(d), 'PASS');
  const edited = await restoreAndFinish(d, (dir) => editImage(dir, `core-${c2}.img`, ([core]) => { (core!.tc as MessageValue).stop_signo = 19; }));
  assert.match(edited, /^FAIL: c2 stopped by signal 19, want 20/);
});

test('a dump that leaves the tree running leaves the stopped children stopped', async () => {
  const t = startTarget('rt-stopped', ['left']);
  const dir = mkdtempSync(path.join(t.dir, 'images-'));
  try {
    await dump({ pid: t.pid, dir, leaveRunning: true });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(state(Number(t.ready.c1)), 'T');
    assert.equal(state(Number(t.ready.c2)), 'T');
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
