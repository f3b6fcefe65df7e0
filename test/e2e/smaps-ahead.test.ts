// smaps read before the freeze (src/dump/smaps-ahead.ts, cryo migrate's final dump): on a live
// test/programs/rt-lazy.c (64 MiB), the VMAs read ahead are taken while /proc/PID/maps and VmLck say
// the same, with the VmFlags a fresh read of smaps gives; maps with a mapping missing, moved or
// with other protection, or another VmLck, are refused (the dump then reads smaps in the freeze).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SmapsAhead } from '../../src/dump/smaps-ahead.js';
import { readMaps, readSmaps, readStatus } from '../../src/proc/index.js';
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
