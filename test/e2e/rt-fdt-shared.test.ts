// A descriptor table shared by processes (CLONE_FILES), as zdtm's fdt_shared sets it up:
// test/programs/rt-fdt-shared.c clones a child and a grandchild sharing the root's table and
// forks one that has a copy. The dump writes one fdinfo for the shared table (the children name
// it by files_id); restore clones the children with CLONE_FILES, so a descriptor the root opens
// after the restore is seen by the sharers and not by the copy, and one a sharer closes is gone
// for the root. An edited image giving the sharers a table of their own fails the check; a table
// shared by siblings but not by their parent is refused at dump, as is fs information shared (CLONE_FS).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { dump } from '../../src/dump/index.js';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { fds } from '../helpers/fault-tree.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const ids = (dir: string, pid: number) => decodeImageFile(path.join(dir, `ids-${pid}.img`)).entries[0]!.value;
/** The grandchild: the process of the dump that is neither the root nor a nor b. */
const grandchild = (d: Dumped) => readdirSync(d.images).map((n) => /^ids-(\d+)\.img$/.exec(n)).filter((m) => m !== null).map((m) => Number(m[1]))
  .find((p) => ![d.pid, Number(d.target.ready.a), Number(d.target.ready.b)].includes(p))!;
let d: Dumped;

test('a shared descriptor table: one fdinfo, the same files_id, shared again after restore', async () => {
  d = await startAndDump('rt-fdt-shared');
  all.push(d);
  const root = d.pid;
  const a = Number(d.target.ready.a);
  const b = Number(d.target.ready.b);
  const g = grandchild(d);
  const fid = (p: number) => Number(ids(d.images, p).files_id);
  assert.equal(fid(a), fid(root));
  assert.equal(fid(g), fid(root));
  assert.notEqual(fid(b), fid(root));
  const fdinfos = readdirSync(d.images).filter((n) => /^fdinfo-\d+\.img$/.test(n)).sort();
  assert.deepEqual(fdinfos, [`fdinfo-${fid(root)}.img`, `fdinfo-${fid(b)}.img`].sort());
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test("a dump that leaves the tree running leaves no descriptor of cryo's in the shared table (each process's park is open while the root dumps it)", async () => {
  const t = startTarget('rt-fdt-shared');
  const dir = mkdtempSync(path.join(t.dir, 'images-'));
  try {
    const pids = [t.pid, Number(t.ready.a), Number(t.ready.b)];
    const before = pids.map(fds);
    await dump({ pid: t.pid, dir, leaveRunning: true });
    assert.deepEqual(pids.map(fds), before);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('edited image: the sharers given a table of their own fail the check', async () => {
  const a = Number(d.target.ready.a);
  const g = grandchild(d);
  const edited = await restoreAndFinish(d, (dir) => {
    for (const p of [a, g]) editImage(dir, `ids-${p}.img`, ([e]) => { (e as MessageValue).files_id = 99; });
  });
  assert.match(edited, /^FAIL: a has no fd 90 at offset 2/);
});

test('a table shared by siblings but not by their parent is refused at dump, and the tree runs on', async () => {
  const t = startTarget('rt-fdt-shared', ['unshared']);
  const dir = mkdtempSync(path.join(t.dir, 'images-'));
  try {
    await assert.rejects(dump({ pid: t.pid, dir }), /share their descriptor table \(CLONE_FILES\) but not with their parents/);
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('edited image: a process sharing a table its parent does not is refused before anything runs', async () => {
  const a = Number(d.target.ready.a);
  await assert.rejects(restoreAndFinish(d, (dir) => editImage(dir, `ids-${a}.img`, ([e]) => { (e as MessageValue).files_id = 99; })),
    new RegExp(`process ${grandchild(d)} shares the descriptor table \\d+ of process ${d.pid} but not its parent's`));
});

test('a process sharing its fs information with the root (CLONE_FS) is refused at dump, and the tree runs on', async () => {
  const t = startTarget('rt-fdt-shared', ['fs']);
  const dir = mkdtempSync(path.join(t.dir, 'images-'));
  try {
    await assert.rejects(dump({ pid: t.pid, dir }), new RegExp(`processes ${t.pid} and ${Number(t.ready.b)} share their fs information \\(CLONE_FS\\)`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
