// Cgroup limits come back: test/programs/rt-cgroup-limits.c puts itself and its child into cgroups
// of the pids controller, each with a pids.max of its own (and an empty one whose cgroup.procs a
// user owns). After the dump the cgroups are removed: restore makes them again with their limits
// (cgroup.img's properties). An edited limit or dropped properties make the program fail; CRIU's
// modes decide whose limits are written (soft: the cgroups restore made; full: those that were
// there too; strict: refuse one that was there with other limits; none: make no cgroup); a limit
// the kernel refuses is refused before anything starts and leaves no cgroup behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, writeImageFile } from '../../src/images/image.js';
import type { MessageValue } from '../../src/images/value.js';
import { sleepSync } from '../../src/sys/index.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
let base = '';
after(() => { removeCgroups(); cleanupDumped(d); });

/** Removes the program's cgroups (EBUSY until their processes are reaped). */
function removeCgroups(): void {
  for (const c of ['kid', 'spare', '.'].map((s) => path.join(base, s))) {
    for (let i = 0; i < 100 && base && existsSync(c); i++) {
      try { rmdirSync(c); } catch { sleepSync(20); }
    }
  }
}

/** The cgroups as they would be without the dump's limits (made by hand: pids.max max). */
function makeUnlimited(): void {
  for (const c of ['.', 'kid', 'spare']) mkdirSync(path.join(base, c));
}

/** Edits the properties of the dumped cgroup whose dir is `name` (the pids hierarchy). */
function editProps(name: string, edit: (props: MessageValue[]) => MessageValue[]): (dir: string) => void {
  return (dir) => {
    const file = path.join(dir, 'cgroup.img');
    const entry = decodeImageFile(file).entries[0]!.value;
    const find = (dirs: MessageValue[]): MessageValue | undefined => {
      for (const x of dirs) {
        if (x.dir_name === name) return x;
        const inner = find((x.children as MessageValue[] | undefined) ?? []);
        if (inner) return inner;
      }
      return undefined;
    };
    const ctl = (entry.controllers as MessageValue[]).find((c) => find(c.dirs as MessageValue[]) !== undefined)!;
    const x = find(ctl.dirs as MessageValue[])!;
    x.properties = edit(x.properties as MessageValue[]);
    writeImageFile(file, 'CGROUP', [entry]);
  };
}

const setLimit = (value: string) => (props: MessageValue[]) => props.map((p) => (p.name === 'pids.max' ? { ...p, value } : p));

test('cgroups made again at restore get their dumped limits; CRIU\'s modes decide whose are written', async () => {
  d = await startAndDump('rt-cgroup-limits');
  const cg = String(d.target.ready.cg);
  base = path.join(String(d.target.ready.mnt), cg);
  const top = cg.slice(1);
  const h = d.target.ready.v1 === '1' ? 'the pids hierarchy' : 'the cgroup v2 hierarchy';
  removeCgroups();
  assert.equal(await restoreAndFinish(d), 'PASS');
  removeCgroups();
  assert.match(await restoreAndFinish(d, editProps(top, setLimit('38'))), new RegExp(`^FAIL: pids.max of ${cg} is 38, not 37`));
  removeCgroups();
  assert.match(await restoreAndFinish(d, editProps('kid', () => [])), new RegExp(`^FAIL: pids.max of ${cg}/kid is max, not 5`));
  removeCgroups();
  assert.match(await restoreAndFinish(d, editProps('spare', (ps) => ps.map((p) => (p.name === 'cgroup.procs' ? { ...p, perms: { ...(p.perms as MessageValue), uid: 0 } } : p)))),
    new RegExp(`^FAIL: cgroup.procs of ${cg}/spare belongs to uid 0, not 1234`));
  // Cgroups that were there: soft leaves their limits, full writes them, strict refuses them.
  removeCgroups();
  makeUnlimited();
  assert.match(await restoreAndFinish(d), new RegExp(`^FAIL: pids.max of ${cg} is max, not 37`));
  removeCgroups();
  makeUnlimited();
  assert.equal(await restoreAndFinish(d, undefined, { restore: { manageCgroups: 'full' } }), 'PASS');
  removeCgroups();
  makeUnlimited();
  assert.match(await restoreRefused(d, () => {}, { manageCgroups: 'strict' }),
    new RegExp(`cgroup ${cg} of ${h} has pids.max = "max", not the dumped "37" \\(--manage-cgroups strict\\): restore with --manage-cgroups full to write it$`));
  // none makes no cgroup.
  removeCgroups();
  assert.match(await restoreRefused(d, () => {}, { manageCgroups: 'none' }), new RegExp(`cgroup ${cg} of ${h} is not on this machine, and --manage-cgroups none makes none: make it, or restore with --manage-cgroups soft$`));
  // A limit this kernel refuses: refused before anything starts, the cgroups it made removed.
  assert.match(await restoreRefused(d, editProps(top, setLimit('banana'))),
    new RegExp(`cgroup ${cg} of ${h}: this machine refuses pids.max = "banana" \\(EINVAL\\): restore with --manage-cgroups ignore to leave the processes in cryo's cgroups$`));
  assert.equal(existsSync(base), false, 'the refused restore removed the cgroup it made');
});
