// Cgroups come back: test/programs/rt-cgroup.c puts itself and its child into cgroups of a named
// v1 hierarchy of its own, beside an empty cgroup of mode 0750. After the dump the hierarchy is
// unmounted and the cgroups removed: restore makes them again (mounting the hierarchy for the time
// of the restore), the empty one with its mode, and puts each process back; --cgroup-root puts the
// whole subtree elsewhere. An edited path or mode, a dropped empty cgroup and `--manage-cgroups
// ignore` make the program fail; a hierarchy this machine cannot mount is refused before anything starts.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeImageFile, writeImageFile } from '../../src/images/image.js';
import type { MessageValue } from '../../src/images/value.js';
import { parseCgroupRoots } from '../../src/shared/cgroup-root.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { dumpTask, restoreTask } from '../helpers/cryo-ops.js';
import { waitGone } from '../helpers/restore-env.js';
import { removeCgroups } from '../helpers/cgroup-hierarchy.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

/** Edits cgroup.img's one entry (its sets, and the dirs of hierarchy `h`). */
function editCgroups(dir: string, edit: (sets: MessageValue[], dirs: MessageValue[]) => void, h = ''): void {
  const file = path.join(dir, 'cgroup.img');
  const entry = decodeImageFile(file).entries[0]!.value;
  const ctl = (entry.controllers as MessageValue[]).find((c) => (c.cnames as string[]).join(',') === h);
  edit(entry.sets as MessageValue[], (ctl?.dirs as MessageValue[] | undefined) ?? []);
  writeImageFile(file, 'CGROUP', [entry]);
}
/** The child dir entry `name` of `d`. */
const childDir = (d: MessageValue, name: string) => (d.children as MessageValue[]).find((c) => c.dir_name === name)!;

test('a process and its child come back into their cgroups, made again in a hierarchy mounted nowhere', async (t) => {
  let d: Dumped;
  try {
    d = await startAndDump('rt-cgroup');
  } catch (e) {
    if (/mount none,name=cryo-rt-\d+: /.test((e as Error).message)) return t.skip(`named cgroup v1 hierarchies cannot be mounted here: ${(e as Error).message}`);
    throw e;
  }
  all.push(d);
  const h = `name=${String(d.target.ready.hier)}`;
  execFileSync('umount', [path.join(d.target.dir, 'h')]);
  removeCgroups(h);
  const sets = decodeImageFile(path.join(d.images, 'cgroup.img')).entries[0]!.value.sets as MessageValue[];
  const pathIn = (s: MessageValue) => ((s.ctls as MessageValue[]).find((c) => c.name === h)?.path);
  const cores = readdirSync(d.images).filter((n) => /^core-\d+\.img$/.test(n)).map((n) => decodeImageFile(path.join(d.images, n)).entries[0]!.value);
  const setPaths = cores.map((c) => pathIn(sets.find((s) => s.id === (c.thread_core as MessageValue).cg_set)!)).sort();
  assert.deepEqual(setPaths, ['/p', '/p/kid'], 'each process names its own set');
  try {
    assert.match(await restoreAndFinish(d, (dir) => editCgroups(dir, (ss) => { for (const s of ss) for (const c of s.ctls as MessageValue[]) if (c.path === '/p') c.path = '/q'; })), new RegExp(`^FAIL: in cgroup /q of ${h}, not /p`));
    removeCgroups(h);
    assert.match(await restoreAndFinish(d, undefined, { restore: { manageCgroups: 'ignore' } }), /^FAIL: in cgroup (\/|\(none\)) of name=cryo-rt-\d+, not \/p/);
    const err = await restoreRefused(d, (dir) => editCgroups(dir, (ss) => { for (const s of ss) for (const c of s.ctls as MessageValue[]) if (c.name === h) c.name = `${h},nosuchcontroller`; }));
    assert.match(err, new RegExp(`process ${d.pid} was in cgroup /p of the ${h},nosuchcontroller hierarchy, which this machine cannot mount \\(EINVAL from mount -t cgroup -o none,${h},nosuchcontroller\\): restore with --manage-cgroups ignore to leave it in cryo's cgroups$`));
    assert.equal(await restoreAndFinish(d), 'PASS');
    // The empty cgroup: kept with its mode (the program's own check fails without either).
    const top = (dirs: MessageValue[]) => { assert.equal(dirs[0]?.dir_name, 'p', 'the tree\'s own cgroup is kept as a dir'); return dirs[0]!; };
    removeCgroups(h);
    assert.match(await restoreAndFinish(d, (dir) => editCgroups(dir, (_, dirs) => { const p = top(dirs); p.children = (p.children as MessageValue[]).filter((c) => c.dir_name !== 'spare'); }, h)), /^FAIL: no cgroup \/p\/spare: /);
    removeCgroups(h);
    assert.match(await restoreAndFinish(d, (dir) => editCgroups(dir, (_, dirs) => { (childDir(top(dirs), 'spare').dir_perms as MessageValue).mode = 0o40700; }, h)), /^FAIL: cgroup \/p\/spare has mode 700, not 750/);
    // --cgroup-root moves the subtree, members and the empty cgroup with it.
    removeCgroups(h);
    writeFileSync(path.join(d.target.dir, 'root'), '/moved\n');
    assert.match(await restoreAndFinish(d), new RegExp(`^FAIL: in cgroup /p of ${h}, not /moved`));
    removeCgroups(h);
    assert.equal(await restoreAndFinish(d, undefined, { restore: { cgroupRoots: parseCgroupRoots([`${h}:/moved`]) } }), 'PASS');
    // dump --cgroup-root names the tree's own cgroup: the hierarchy's root, whose subtree then
    // goes under /moved whole (the processes to /moved/p, not /moved).
    removeCgroups(h);
    const again = await restoreTask({ dir: imagesCopy(d) });
    const second = { ...d, images: path.join(d.target.dir, 'images-root') };
    const mnt = mkdtempSync(path.join(tmpdir(), 'rt-cgroup-'));
    execFileSync('mount', ['-t', 'cgroup', '-o', `none,${h}`, 'cgroup', mnt]);
    try {
      await dumpTask({ pid: again.pid, dir: second.images, cgroupRoots: parseCgroupRoots([`${h}:/`]) });
    } finally {
      execFileSync('umount', [mnt]);
      rmdirSync(mnt);
    }
    for (const pid of [d.pid, Number(d.target.ready.kid)]) assert.ok(waitGone(pid), `dumped process ${pid} is gone`);
    removeCgroups(h);
    writeFileSync(path.join(d.target.dir, 'root'), '/moved/p\n');
    assert.equal(await restoreAndFinish(second, undefined, { restore: { cgroupRoots: parseCgroupRoots([`${h}:/moved`]) } }), 'PASS');
    rmSync(path.join(d.target.dir, 'root'));
    // The root cgroup of a hierarchy this machine lacks (another machine's controller) asks for nothing.
    assert.equal(await restoreAndFinish(d, (dir) => editCgroups(dir, (ss) => { for (const s of ss) (s.ctls as MessageValue[]).push({ name: 'nosuchcontroller', path: '/' }); })), 'PASS');
  } finally {
    removeCgroups(h);
  }
});
