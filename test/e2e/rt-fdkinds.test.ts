// Descriptor kinds without a path come back: test/programs/rt-fdkinds.c (eventfds with and
// without EFD_SEMAPHORE, epoll with a level- and an edge-triggered target, a signalfd with its
// signal pending, a one-shot and a ticking timerfd, inotify with a gap in its watch numbers, a
// pidfd of the task itself) is dumped, restored and checks itself on SIGTERM. Edited images
// prove the checks notice; a pidfd of an outside process and an unresolvable watch are refused.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { dump } from '../../src/dump/index.js';
import { CRYO_FILES_IMAGE, readCryoFileStats, writeCryoFileStats } from '../../src/images/cryo-image.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
/** The file_entry of the task's descriptor `fd`. */
function fileOf(dir: string, fd: number): MessageValue {
  const id = entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
  return entries(dir, 'files.img').find((f) => f.id === id)!;
}
/** Edits the kind message (file[field]) of descriptor `fd` in files.img. */
function editFd(dir: string, fd: number, field: string, edit: (m: MessageValue) => void): void {
  const id = entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
  editImage(dir, 'files.img', (e) => edit(e.find((f) => f.id === id)![field] as MessageValue));
}

let d: Dumped;

test('eventfd, epoll, signalfd, timerfd, inotify, pidfd: dumped as CRIU 4.2 writes them, restored, the task passes', async () => {
  d = await startAndDump('rt-fdkinds');
  all.push(d);
  const r = Object.fromEntries(Object.entries(d.target.ready).map(([k, v]) => [k, Number(v)]));
  const efd = fileOf(d.images, r.efd!);
  assert.equal(efd.type, 'EVENTFD');
  assert.equal(BigInt((efd.efd as MessageValue).counter as bigint), 0x1234567n);
  const ep = fileOf(d.images, r.ep!);
  assert.equal(ep.type, 'EVENTPOLL');
  const tfds = (ep.epfd as MessageValue).tfd as MessageValue[];
  assert.deepEqual(tfds.map((t) => [Number(t.tfd), Number(t.data)]).sort(), [[r.efd, 0xe7e7], [r.pr, 0x50c0]].sort());
  assert.ok(Number(tfds.find((t) => Number(t.tfd) === r.pr)!.events) & 0x80000000, 'EPOLLET kept');
  const sfd = fileOf(d.images, r.sfd!);
  assert.equal(sfd.type, 'SIGNALFD');
  assert.equal(BigInt((sfd.sgfd as MessageValue).sigmask as bigint), 1n << 9n);
  const tick = fileOf(d.images, r.ttick!).tfd as MessageValue;
  assert.equal(Number(tick.clockid), 7);
  assert.equal(Number(tick.ticks), 1);
  assert.equal(Number(tick.isec), 3600);
  const ify = fileOf(d.images, r.ifd!).ify as MessageValue;
  const wds = (ify.wd as MessageValue[]).map((w) => Number(w.wd)).sort();
  assert.deepEqual(wds, [2, 3]);
  const w3 = (ify.wd as MessageValue[]).find((w) => Number(w.wd) === 3)!;
  assert.equal((w3.f_handle as MessageValue).path, d.target.dir, 'the handle resolves to the watched path (CRIU\'s path hint)');
  const pfd = fileOf(d.images, r.pfd!);
  assert.equal(pfd.type, 'PIDFD');
  assert.equal(Number((pfd.pidfd as MessageValue).nspid), d.pid);

  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: each kind\'s check notices', async () => {
  const r = Object.fromEntries(Object.entries(d.target.ready).map(([k, v]) => [k, Number(v)]));
  assert.match(await restoreAndFinish(d, (dir) => editFd(dir, r.efd!, 'efd', (m) => { m.counter = 0x1234568n; })),
    /^FAIL: eventfd counter 0x1234568, want 0x1234567/);
  assert.match(await restoreAndFinish(d, (dir) => editFd(dir, r.ep!, 'epfd', (m) => {
    (m.tfd as MessageValue[]).find((t) => Number(t.tfd) === r.pr)!.data = 0x50c1n;
  })), /^FAIL: epoll: event 0x[0-9a-f]+ with data 0x50c1/);
  assert.match(await restoreAndFinish(d, (dir) => editFd(dir, r.ep!, 'epfd', (m) => {
    const t = (m.tfd as MessageValue[]).find((x) => Number(x.tfd) === r.pr)!;
    t.events = Number(t.events) & ~0x80000000;
  })), /^FAIL: epoll again: 2 events/);
  assert.match(await restoreAndFinish(d, (dir) => editFd(dir, r.sfd!, 'sgfd', (m) => { m.sigmask = 1n << 10n; })),
    /^FAIL: signalfd read: Resource temporarily unavailable/);
  assert.match(await restoreAndFinish(d, (dir) => editFd(dir, r.ttick!, 'tfd', (m) => { m.ticks = 0n; })),
    /^FAIL: ticking timerfd: Resource temporarily unavailable, 0 ticks/);
  // An hour left: more than the 2.5 s it was set to, however slowly the machine runs.
  assert.match(await restoreAndFinish(d, (dir) => editFd(dir, r.tone!, 'tfd', (m) => { m.vsec = 3600n; })),
    /^FAIL: one-shot timerfd: 3\d{12} ns left/);
  assert.match(await restoreAndFinish(d, (dir) => editFd(dir, r.ifd!, 'ify', (m) => {
    (m.wd as MessageValue[]).find((w) => Number(w.wd) === 2)!.wd = 4;
  })), /^FAIL: inotify: create in b\/ reported on watch 4 \(want 2\)/);
  // Without the semaphore fact (a CRIU reader's view), the eventfd reads its whole counter.
  assert.match(await restoreAndFinish(d, (dir) => {
    const stats = [...readCryoFileStats(dir).values()];
    assert.equal(stats.filter((s) => s.eventfdSemaphore).length, 1);
    writeCryoFileStats(path.join(dir, CRYO_FILES_IMAGE), stats.map(({ eventfdSemaphore: _, ...s }) => s));
  }), /^FAIL: semaphore eventfd read 3, want 1/);
});

test('refusals: a watch whose path and handle are gone, a pidfd of a process not in the dump', async () => {
  const r = Object.fromEntries(Object.entries(d.target.ready).map(([k, v]) => [k, Number(v)]));
  await assert.rejects(restoreAndFinish(d, (dir) => editFd(dir, r.ifd!, 'ify', (m) => {
    const w = (m.wd as MessageValue[]).find((x) => Number(x.wd) === 3)!;
    const fh = w.f_handle as MessageValue;
    fh.path = '/nonexistent/cryo-watch';
    fh.handle = (fh.handle as bigint[]).map(() => 0xdeadn);
  })), /fd \d+ \(inotify\): watch 3 on inode \d+ of device \d+:\d+ \(\/nonexistent\/cryo-watch, gone\) cannot be found/);
  await assert.rejects(restoreAndFinish(d, (dir) => editFd(dir, r.pfd!, 'pidfd', (m) => { m.nspid = 1; })),
    /fd \d+ is a pidfd of process 1, which is not in the dump/);

  const t = startTarget('rt-fdkinds', ['outside']);
  try {
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`fd ${t.ready.pfd} of task ${t.pid} is a pidfd of process \\d+, which is outside the dumped tree`));
    // The refused dump left the task as it was: its own check runs (and sees the outside pidfd).
    assert.match(t.finish(), /^FAIL: pidfd refers to process \d+, want the task itself/);
  } finally {
    t.cleanup();
  }
});

test('inotify watching a file deleted since but held open: the watch comes back on that file (restored as a ghost)', async () => {
  const g = await startAndDump('rt-inotify-gone');
  all.push(g);
  const ify = entries(g.images, 'files.img').find((f) => f.type === 'INOTIFY')!.ify as MessageValue;
  const w2 = (ify.wd as MessageValue[]).find((w) => Number(w.wd) === 2)!;
  assert.equal(String((w2.f_handle as MessageValue).path), path.join(g.target.dir, 'f'));
  assert.equal(await restoreAndFinish(g), 'PASS');
  assert.match(await restoreAndFinish(g, (dir) => editImage(dir, 'files.img', (e) => {
    const w = ((e.find((f) => f.type === 'INOTIFY')!.ify as MessageValue).wd as MessageValue[]).find((x) => Number(x.wd) === 2)!;
    (w.f_handle as MessageValue).path = path.join(g.target.dir, 'other');
  })), /^FAIL: a write to fd \d+: watch 2 reported 0x0, want IN_MODIFY/);
});

// test/programs/rt-fanotify.c (zdtm's fanotify00): a fanotify group with an inode mark and a mount
// mark whose ignore mask survives modify, in CRIU 4.2's fanotify_file_entry; each mark, its ignore
// mask and flags, and the group's flags proven by an edited image; marks that cannot be found are
// refused before anything starts, a mark on a whole file system at dump time.
test('fanotify: the group\'s flags, an inode mark and a mount mark with its ignore mask', async () => {
  const f = await startAndDump('rt-fanotify');
  all.push(f);
  const fd = Number(f.target.ready.fd);
  const ffy = fileOf(f.images, fd).ffy as MessageValue;
  const FAN_NONBLOCK = 0x2, FAN_UNLIMITED_QUEUE = 0x10, FAN_MARK_IGNORED_SURV_MODIFY = 0x40;
  assert.equal(Number(ffy.faflags), FAN_NONBLOCK | FAN_UNLIMITED_QUEUE);
  const marks = ffy.mark as MessageValue[];
  assert.deepEqual(marks.map((m) => m.type).sort(), ['INODE', 'MOUNT']);
  const inode = marks.find((m) => m.type === 'INODE')!;
  assert.equal(((inode.ie as MessageValue).f_handle as MessageValue).path, path.join(f.target.dir, 'a'), 'the marked file\'s path is the hint');
  const mount = marks.find((m) => m.type === 'MOUNT')!;
  assert.ok(f.target.dir.startsWith(String((mount.me as MessageValue).path)), 'the mount mark names the mount point of the directory');
  assert.equal(Number(mount.mflags), FAN_MARK_IGNORED_SURV_MODIFY);
  assert.equal(await restoreAndFinish(f), 'PASS');

  const mark = (type: string, edit: (m: MessageValue, ffy: MessageValue) => void) => (dir: string) =>
    editFd(dir, fd, 'ffy', (m) => edit((m.mark as MessageValue[]).find((x) => x.type === type)!, m));
  const drop = (type: string) => mark(type, (_, m) => { m.mark = (m.mark as MessageValue[]).filter((x) => x.type !== type); });
  assert.match(await restoreAndFinish(f, drop('MOUNT')), /^FAIL: no FAN_OPEN event for b \(the mount mark\)/);
  assert.match(await restoreAndFinish(f, drop('INODE')), /^FAIL: no FAN_CLOSE_WRITE event for a \(the inode mark\)/);
  assert.match(await restoreAndFinish(f, mark('MOUNT', (m) => { m.mflags = 0; })), /^FAIL: a FAN_MODIFY event for a came through the mount's ignore mask/);
  assert.match(await restoreAndFinish(f, mark('MOUNT', (m) => { m.ignored_mask = 0; })), /^FAIL: a FAN_MODIFY event for a came through the mount's ignore mask/);
  assert.match(await restoreAndFinish(f, (dir) => editFd(dir, fd, 'ffy', (m) => { m.faflags = FAN_NONBLOCK; })), /^FAIL: the group's fdinfo was/);

  await assert.rejects(restoreAndFinish(f, mark('MOUNT', (m) => { (m.me as MessageValue).path = '/nonexistent/cryo-mount'; })),
    /fd \d+ \(fanotify\): the mark on the mount of \/nonexistent\/cryo-mount \(device \d+:\d+\) cannot be found on this machine/);
  await assert.rejects(restoreAndFinish(f, mark('INODE', (m) => {
    const fh = (m.ie as MessageValue).f_handle as MessageValue;
    fh.path = '/nonexistent/cryo-mark';
    fh.handle = (fh.handle as bigint[]).map(() => 0xdeadn);
  })), /fd \d+ \(fanotify\): the mark on inode \d+ of device \d+:\d+ \(\/nonexistent\/cryo-mark\) cannot be found on this machine/);

  const t = startTarget('rt-fanotify', ['sb']);
  try {
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`fd ${t.ready.fd} of task ${t.pid}: a fanotify mark on the whole file system of device \\d+:\\d+ \\(FAN_MARK_FILESYSTEM\\): cryo cannot dump it`));
    assert.equal(t.finish(), 'PASS', 'the refused dump left the task as it was');
  } finally {
    t.cleanup();
  }
});
