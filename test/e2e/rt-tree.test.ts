// Process trees: test/programs/rt-tree.c (a root with children, a grandchild, a group led by a
// sibling, a zombie with exit code 7, a pipe between two children with data in it, a file offset
// shared by parent and child, shared anonymous memory from before the forks) is dumped as a tree,
// every PID is gone, and the restored tree checks itself on SIGTERM. Edited images (a process
// group, the zombie's status) must make it FAIL; a tree holding file locks comes back with them; a
// pipe whose other end is held outside the dumped tree is refused, and the tree runs on unharmed.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { dump, DumpError } from '../../src/dump/index.js';
import { WNOHANG, __WALL, sleepSync, spawn, waitpid } from '../../src/sys/index.js';
import { becomeSubreaper, editImage, waitGone } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { restore, RestoreError } from '../../src/restore/index.js';
import { kill } from '../../src/sys/index.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, restoreFailingAt, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));
becomeSubreaper();

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);

/** Waits until every PID is gone; orphans of the tree come to this process (a subreaper): collect them. */
function allGone(pids: number[], ms = 5000): number[] {
  const end = Date.now() + ms;
  for (;;) {
    for (const p of pids) {
      try { waitpid(p, WNOHANG | __WALL); } catch { /* not ours */ }
    }
    const left = pids.filter((p) => existsSync(`/proc/${p}`));
    if (left.length === 0 || Date.now() > end) return left;
    sleepSync(20);
  }
}

function treePids(d: Dumped): Record<string, number> {
  const r = d.target.ready;
  return { root: d.pid, c1: Number(r.c1), c2: Number(r.c2), c3: Number(r.c3), c4: Number(r.c4), c5: Number(r.c5), c6: Number(r.c6), g1: Number(r.g1) };
}

/**
 * Restores the tree (from a copy edited by `edit`), sends SIGTERM to the root and returns its
 * verdict. Afterwards every process of the tree is gone (a root that FAILs leaves its children).
 */
async function restoreTree(d: Dumped, edit?: (dir: string) => void): Promise<string> {
  const dir = imagesCopy(d, edit);
  truncateSync(d.target.outFile, Buffer.byteLength(d.readyLine) + 1);
  const pids = Object.values(treePids(d));
  try {
    const r = await restore({ dir, detach: true });
    assert.equal(r.pid, d.pid);
    return d.target.finish();
  } finally {
    for (const p of pids) {
      try { kill(p, 9); } catch { /* gone */ }
    }
    const left = allGone(pids);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(left, [], 'no process of the restored tree is left');
  }
}

let dumped: Dumped | undefined;
async function tree(): Promise<Dumped> {
  if (!dumped) {
    dumped = await startAndDump('rt-tree', ['nolocks']);
    all.push(dumped);
    const left = allGone(Object.values(treePids(dumped)));
    assert.deepEqual(left, [], 'every process of the dumped tree is gone');
  }
  return dumped;
}

test('a process tree comes back: PIDs, parents, groups, session, zombies (exited, killed, faulted), shared pipe/file/memory', async () => {
  const d = await tree();
  const p = treePids(d);
  const ps = entries(d.images, 'pstree.img');
  const byPid = new Map(ps.map((e) => [Number(e.pid), e]));
  assert.deepEqual(ps.map((e) => Number(e.pid)).sort(), Object.values(p).sort());
  assert.equal(Number(byPid.get(p.g1!)!.ppid), p.c1);
  assert.equal(Number(byPid.get(p.c3!)!.pgid), p.c2);
  for (const e of ps) assert.equal(Number(e.sid), p.root);
  const zombie = entries(d.images, `core-${p.c4}.img`)[0]!.tc as MessageValue;
  assert.equal(Number(zombie.task_state), 2);
  assert.equal(Number(zombie.exit_code), 7 << 8);
  assert.equal(Number((entries(d.images, `core-${p.c5}.img`)[0]!.tc as MessageValue).exit_code), 9);
  assert.equal(Number((entries(d.images, `core-${p.c6}.img`)[0]!.tc as MessageValue).exit_code), 11);
  // One open file description of shared.txt in root and c1: one file id in both fdinfo images.
  const ids = (pid: number) => Number((entries(d.images, `ids-${pid}.img`)[0]!).files_id);
  const sharedId = (pid: number) => entries(d.images, `fdinfo-${ids(pid)}.img`).find((f) => Number(f.fd) === 4)!.id;
  assert.equal(sharedId(p.root!), sharedId(p.c1!));
  assert.equal(await restoreTree(d), 'PASS');
});

test('a changed process group in pstree.img makes the restored tree FAIL', async () => {
  const d = await tree();
  const p = treePids(d);
  const out = await restoreTree(d, (dir) => editImage(dir, 'pstree.img', (es) => {
    es.find((e) => Number(e.pid) === p.c3)!.pgid = p.c3!;
  }));
  assert.match(out, /^FAIL: process groups/);
});

test("a child's PID taken when the tree is restored is refused, naming the holder, and nothing of the tree is left", async () => {
  const d = await tree();
  const p = treePids(d);
  const holder = spawn({ path: '/bin/sleep', argv: ['sleep', '30'], setTid: [p.c2!] });
  const dir = imagesCopy(d);
  try {
    await assert.rejects(restore({ dir, detach: true }), (e: unknown) => {
      assert.ok(e instanceof RestoreError && e.code === 'PID_TAKEN', String(e));
      assert.match(e.message, new RegExp(`^PID ${p.c2} is taken by 'sleep' \\(pid ${p.c2}\\)`));
      return true;
    });
    assert.equal(readFileSync(`/proc/${p.c2}/comm`, 'utf8').trim(), 'sleep', 'the holder runs on');
    assert.deepEqual(allGone(Object.values(p).filter((x) => x !== p.c2), 0), [], 'no process of the tree was made');
  } finally {
    kill(holder, 9);
    waitpid(holder);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a changed zombie exit status makes the restored tree FAIL", async () => {
  const d = await tree();
  const p = treePids(d);
  const out = await restoreTree(d, (dir) => editImage(dir, `core-${p.c4}.img`, (es) => {
    (es[0]!.tc as MessageValue).exit_code = 9 << 8;
  }));
  assert.match(out, /^FAIL: zombie c4 \d+ exited with 9 \(want 7\)/);
  const killed = await restoreTree(d, (dir) => editImage(dir, `core-${p.c5}.img`, (es) => {
    (es[0]!.tc as MessageValue).exit_code = 15;
  }));
  assert.match(killed, /^FAIL: zombie c5 \d+: status 0xf, want killed by SIGKILL/);
});

test('a tree holding file locks (an flock in c1, a POSIX lock in c2) comes back with them', async () => {
  const d = await startAndDump('rt-tree');
  all.push(d);
  assert.deepEqual(allGone(Object.values(treePids(d))), [], 'every process of the dumped tree is gone');
  const p = treePids(d);
  assert.deepEqual(entries(d.images, 'filelocks.img').map((l) => [Number(l.flag), Number(l.pid)]).sort(), [[1, p.c2], [2, p.c1]]);
  assert.equal(await restoreTree(d), 'PASS');
});

test('a pipe whose other end a process outside the dumped tree holds is refused, naming the pipe and the holder', async () => {
  const t = startTarget('rt-tree', ['nolocks']);
  try {
    const c3 = Number(t.ready.c3);
    const holders = [Number(t.ready.c2), Number(t.ready.g1)];
    await assert.rejects(dump({ pid: c3, dir: path.join(t.dir, 'images'), shellJob: true }), (e: unknown) => {
      assert.ok(e instanceof DumpError);
      const m = /^pipe:\[(\d+)\] \(fd \d+ of process (\d+)\) is also held by process (\d+) \(fd \d+\) outside the dumped tree/.exec(e.message);
      assert.ok(m, e.message);
      assert.equal(Number(m[2]), c3);
      assert.ok(holders.includes(Number(m[3])), e.message);
      assert.match(e.message, /--external pipe:\[\d+\]/);
      return true;
    });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test("a restore failed after a child runs again kills that child before its parent: it never sees its parent die (rt-parent-watch, as a PostgreSQL backend)", async () => {
  // The child resumes first, the root last: a failure between them (the root's last call, the
  // restore's last point) once killed the root first, and the running child saw its pipe's end
  // close and acted (PostgreSQL's removed its shared memory: the next restore found it gone).
  const d = await startAndDump('rt-parent-watch');
  try {
    const marker = path.join(d.target.dir, 'marker');
    const trace = path.join(d.target.dir, 'points');
    process.env.CRYO_FAULT_TRACE = trace;
    let points: string[];
    try {
      assert.equal(await restoreAndFinish(d), 'PASS');
    } finally {
      delete process.env.CRYO_FAULT_TRACE;
      points = readFileSync(trace, 'utf8').trim().split('\n');
    }
    const resumed = points.findIndex((l) => / step resume$/.test(l)) + 1;
    assert.ok(resumed > 0 && resumed < points.length, 'calls into the processes after the step resume');
    for (let n = resumed + 1; n <= points.length; n++) {
      await restoreFailingAt(d, n);
      for (const pid of [d.pid, Number(d.target.ready.child)]) assert.ok(waitGone(pid), `process ${pid} is gone after point ${n}`);
      assert.ok(existsSync(marker), `the child did not act after a restore failed at point ${n} (${points[n - 1]})`);
    }
    assert.equal(await restoreAndFinish(d), 'PASS');
  } finally {
    cleanupDumped(d);
  }
});
