// smaps read before the freeze (src/dump/smaps-ahead.ts, cryo migrate's final dump): on a live
// test/programs/rt-lazy.c (64 MiB), the VMAs read ahead are taken while /proc/PID/maps and VmLck say
// the same, with the VmFlags a fresh read of smaps gives; maps with a mapping missing, moved or
// with other protection, or another VmLck, are refused (the dump then reads smaps in the freeze).
// smaps read on the thread pool while frozen (src/dump/smaps-frozen.ts): taken for the mappings of
// maps, a mapping between them (cryo's area in a hole) left out, refused when one differs. readMaps
// (native parser) gives what the JavaScript parser gives.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SmapsAhead } from '../../src/dump/smaps-ahead.js';
import { SmapsWhileFrozen } from '../../src/dump/smaps-frozen.js';
import { parseMaps, readMaps, readSmaps, readStatus, type Vma } from '../../src/proc/index.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanedUpAfterFile } from '../helpers/restore-env.js';

const { targets } = cleanedUpAfterFile();

test('smaps read ahead: taken while the mappings are the same, with the VmFlags of a fresh read; refused once they differ', async () => {
  const t = startTarget('rt-lazy');
  targets.push(t);
  const ahead = SmapsAhead.start(t.pid);
  await ahead.settled();
  const maps = readMaps(t.pid);
  const vmLck = readStatus(t.pid).raw.VmLck;
  const got = await ahead.take(t.pid, maps, vmLck);
  assert.ok(got !== undefined, 'taken');
  assert.deepEqual(got.map((v) => [v.start, v.smaps!.vmFlags]), readSmaps(t.pid, { sizes: [] }).map((v) => [v.start, v.smaps!.vmFlags]));
  assert.equal(await ahead.take(t.pid, maps.slice(1), vmLck), undefined, 'a mapping gone');
  assert.equal(await ahead.take(t.pid, maps.map((v, i) => (i === 0 ? { ...v, end: v.end + 4096n } : v)), vmLck), undefined, 'a mapping grown');
  assert.equal(await ahead.take(t.pid, maps.map((v, i) => (i === 0 ? { ...v, write: !v.write } : v)), vmLck), undefined, 'another protection');
  assert.equal(await ahead.take(t.pid, maps, '4 kB'), undefined, 'another locked size');
  assert.equal(await ahead.take(t.pid + 100000, maps, vmLck), undefined, 'a process not read ahead');
  assert.equal(t.finish(), 'PASS');
});

test('smaps read while frozen: its VmFlags given to the VMAs of maps, one between them passed over; refused once one differs', async () => {
  const t = startTarget('rt-lazy');
  targets.push(t);
  const mapsNow = () => readMaps(t.pid);
  assert.deepEqual(mapsNow(), parseMaps(readFileSync(`/proc/${t.pid}/maps`, 'utf8')), 'readMaps as the JavaScript parser');
  const fresh = readSmaps(t.pid, { sizes: [] });
  assert.deepEqual(await SmapsWhileFrozen.start(t.pid).take(mapsNow()), fresh, 'taken');
  const without = mapsNow().filter((_, i) => i !== 2);
  assert.deepEqual(await SmapsWhileFrozen.start(t.pid).take(without), fresh.filter((_, i) => i !== 2), 'a mapping not in maps passed over');
  const changed = async (change: Partial<Vma>) => {
    const maps = mapsNow().map((v, i) => (i === 2 ? { ...v, ...change } : v));
    const got = await SmapsWhileFrozen.start(t.pid).take(maps);
    assert.ok(maps.every((v) => v.smaps === undefined), 'maps unchanged');
    return got;
  };
  const m2 = mapsNow()[2]!;
  assert.equal(await changed({ end: m2.end + 4096n }), undefined, 'a mapping grown');
  assert.equal(await changed({ write: !m2.write }), undefined, 'another protection');
  assert.equal(await changed({ inode: m2.inode + 1n }), undefined, 'another inode');
  assert.equal(await changed({ name: m2.name + 'x' }), undefined, 'another name');
  assert.equal(await changed({ deleted: !m2.deleted }), undefined, 'deleted or not');
  assert.equal(await SmapsWhileFrozen.start(t.pid + 100000).take(mapsNow()), undefined, 'a read that failed');
  assert.equal(t.finish(), 'PASS');
});
