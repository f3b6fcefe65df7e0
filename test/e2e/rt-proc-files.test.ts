// /proc files of processes of the tree, as zdtm's child_opened_proc opens them: test/programs/
// rt-proc-files.c holds /proc/CHILD/stat and its own /proc/PID/status open. They exist only once
// restore has made those processes again, so preflight does not look for them; after the restore
// each descriptor reads that process's file. An edited image naming the root's stat instead of
// the child's fails the check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
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

// test/programs/rt-proc-dead.c (zdtm's remap_dead_pid, unhashed_proc): a descriptor of a dead
// process's /proc file and a working directory in a dead process's /proc directory. The dump
// names each dead PID once in remap-fpath.img (PROCFS, as CRIU writes it); restore gives the PID
// to a stand-in while the task opens them, so they are a dead process's files again.
test('/proc files of dead processes: a stand-in with the PID while the task opens them', async () => {
  const dd = await startAndDump('rt-proc-dead');
  all.push(dd);
  const r = dd.target.ready;
  const [a, b] = [Number(r.a), Number(r.b)];
  const remaps = decodeImageFile(path.join(dd.images, 'remap-fpath.img')).entries.map((e) => e.value);
  assert.deepEqual(remaps.filter((e) => e.remap_type === 'PROCFS').map((e) => Number(e.remap_id)).sort(), [a, b].sort());
  assert.equal(await restoreAndFinish(dd), 'PASS');

  const rename = (from: string, to: string) => (dir: string) => editImage(dir, 'files.img', (es) => {
    const reg = es.find((f) => f.type === 'REG' && String((f.reg as MessageValue).name) === from)!.reg as MessageValue;
    reg.name = to;
  });
  assert.match(await restoreAndFinish(dd, rename(`/proc/${a}/status`, `/proc/${a}/stat`)), new RegExp(`^FAIL: fd ${r.pfd} is /proc/${a}/stat, was /proc/${a}/status`));
  assert.match(await restoreAndFinish(dd, rename(`/proc/${b}`, `/proc/${a}`)), new RegExp(`^FAIL: the working directory is /proc/${a} \\(deleted\\), was /proc/${b} \\(deleted\\)`));
  // A dead process's PID that is taken now: refused before anything starts, naming it.
  await assert.rejects(restoreAndFinish(dd, (dir) => editImage(dir, 'remap-fpath.img', (es) => {
    es.find((e) => Number(e.remap_id) === b)!.remap_id = 1;
  })), /the dump holds \/proc files of process 1, which had died: PID 1 is taken by /);
});

