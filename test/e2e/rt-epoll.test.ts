// An epoll set whose watched files moved since they were added comes back watching the same
// files under the same numbers: test/programs/rt-epoll.c (a target dup'd and its number closed,
// two watches numbered alike for two eventfds, a target held only by the child while the
// parent's number is another file now) is dumped as a tree, restored, and checks which watch
// reports each file. Swapping the two eventfds' recorded targets fails its check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CRYO_FILES_IMAGE, readCryoFileStats, writeCryoFileStats } from '../../src/images/cryo-image.js';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
let d: Dumped;

test('epoll watching dup\'d, renumbered and other-process files: targets found by kcmp, restored, the task passes', async () => {
  d = await startAndDump('rt-epoll');
  all.push(d);
  const ep = entries(d.images, 'files.img').find((f) => f.type === 'EVENTPOLL')!.epfd as MessageValue;
  const tfds = (ep.tfd as MessageValue[]).map((t) => Number(t.tfd));
  const x = Number(d.target.ready.x);
  assert.equal(tfds.filter((n) => n === x).length, 2, 'two watches numbered x');
  const targets = readCryoFileStats(d.images).get(Number(ep.id))!.epollTargets!;
  assert.equal(targets.length, tfds.length);
  assert.equal(new Set(targets).size, targets.length, 'four different files');
  const child = Number(d.target.ready.child);
  const childFds = entries(d.images, `fdinfo-${entries(d.images, `ids-${child}.img`)[0]!.files_id}.img`);
  const c0 = Number(d.target.ready.c0);
  const cTarget = targets[tfds.indexOf(c0)]!;
  assert.ok(childFds.some((f) => Number(f.id) === cTarget && Number(f.fd) === 40), 'pipe c is the child\'s fd 40');
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: the two eventfds watched as x swapped, the task sees the wrong one report', async () => {
  assert.match(await restoreAndFinish(d, (dir) => {
    const stats = readCryoFileStats(dir);
    const ep = entries(dir, 'files.img').find((f) => f.type === 'EVENTPOLL')!.epfd as MessageValue;
    const tfds = (ep.tfd as MessageValue[]).map((t) => Number(t.tfd));
    const x = Number(d.target.ready.x);
    const s = stats.get(Number(ep.id))!;
    const i = tfds.indexOf(x);
    const j = tfds.lastIndexOf(x);
    [s.epollTargets![i], s.epollTargets![j]] = [s.epollTargets![j]!, s.epollTargets![i]!];
    writeCryoFileStats(path.join(dir, CRYO_FILES_IMAGE), [...stats.values()]);
  }), /^FAIL: eventfd at fd \d+ reported as 0xb1, want 0xb2/);
});
