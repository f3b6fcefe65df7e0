// /proc files of processes of the tree, as zdtm's child_opened_proc opens them: test/programs/
// rt-proc-files.c holds /proc/CHILD/stat and its own /proc/PID/status open. They exist only once
// restore has made those processes again, so preflight does not look for them; after the restore
// each descriptor reads that process's file. An edited image naming the root's stat instead of
// the child's fails the check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));
let d: Dumped;

test('/proc files of the tree: restored once the processes exist, reading the same processes', async () => {
  d = await startAndDump('rt-proc-files');
  all.push(d);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: the child\'s stat renamed to the root\'s fails the check', async () => {
  const c = Number(d.target.ready.c);
  const edited = await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (es) => {
    const reg = es.find((f) => f.type === 'REG' && String((f.reg as MessageValue).name) === `/proc/${c}/stat`)!.reg as MessageValue;
    reg.name = `/proc/${d.pid}/stat`;
  }));
  assert.match(edited, new RegExp(`^FAIL: fd cs reads the stat of process ${d.pid}, want c \\(${c}\\)`));
});
