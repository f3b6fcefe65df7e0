// A dump that leaves its task running writes the pages of a large process from a copy-on-write
// snapshot taken in the freeze, after the task runs again (src/dump/snapshot.ts). test/programs/
// rt-snapshot.c sweeps 32 MiB with a writer thread that checks each page holds what its last sweep
// left: the task must run on unharmed through the dump, leave no child behind, and its restore
// must find every page as the writer's own state expects (pages of any later moment FAIL). A page
// of the image edited must FAIL too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dump, type DumpEvent } from '../../src/dump/index.js';
import { flipDumpedByte, PAGE_SIZE } from '../helpers/dumped-memory.js';
import { startTarget } from '../helpers/dump-target.js';
import { becomeSubreaper, waitGone } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

test('a large task left running is dumped from a snapshot of the freeze, and runs on unharmed', async () => {
  becomeSubreaper();
  const target = startTarget('rt-snapshot');
  const images = path.join(target.dir, 'images');
  const d: Dumped = { target, pid: target.pid, images, readyLine: readFileSync(target.outFile, 'utf8').split('\n')[0]! };
  all.push(d);
  const stages: string[] = [];
  await dump({ pid: target.pid, dir: images, leaveRunning: true, shellJob: true, onEvent: (e: DumpEvent) => { if (e.type === 'stage') stages.push(e.stage); } });
  assert.deepEqual(stages.slice(stages.indexOf('detach')), ['detach', 'snapshot'], `stages: ${stages.join(' ')}`);
  // The clone that made the snapshot is reaped inside the task: no child of its own is left.
  assert.equal(readFileSync(`/proc/${target.pid}/task/${target.pid}/children`, 'utf8').trim(), '');
  assert.equal(target.finish(), 'PASS');
  assert.ok(waitGone(target.pid));

  assert.equal(await restoreAndFinish(d), 'PASS');
  const region = BigInt(target.ready.region!);
  const edited = await restoreAndFinish(d, (dir) => flipDumpedByte(dir, target.pid, region + 100n * BigInt(PAGE_SIZE)));
  assert.match(edited, /^FAIL: page 100 held sweep \d+ where the writer expected \d+/);
});
