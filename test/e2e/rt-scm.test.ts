// Descriptors in flight in unix socket queues (SCM_RIGHTS), as a server hands connections to its
// workers: test/programs/rt-scm.c queues a pipe end, a file at an offset and an eventfd held by
// no descriptor, and a pipe end the task still holds, on a datagram and a stream socketpair. The
// dump writes them as scm entries naming file ids (one shared with the held descriptor); the
// restored task receives each and checks it is that file. An edited image fails the check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
let d: Dumped;

test('descriptors in flight in unix queues: dumped as scm entries, received after restore as the same files', async () => {
  d = await startAndDump('rt-scm');
  all.push(d);
  const queued = entries(d.images, 'sk-queues.img');
  const rights = queued.map((q) => ((q.scm as MessageValue[] | undefined) ?? []).flatMap((m) => (m.rights as number[]).map(Number)));
  assert.deepEqual(rights.map((r) => r.length), [1, 1, 1, 2]);
  const fdinfo = entries(d.images, readdirSync(d.images).find((n) => /^fdinfo-\d+\.img$/.test(n))!);
  const w = Number(d.target.ready.w);
  assert.equal(rights[2]![0], Number(fdinfo.find((f) => Number(f.fd) === w)!.id), 'the held write end has its descriptor\'s file id');
  const files = entries(d.images, 'files.img');
  assert.deepEqual([rights[0]![0], rights[1]![0], ...rights[3]!].map((id) => String(files.find((f) => Number(f.id) === id)!.type)), ['PIPE', 'REG', 'PIPE', 'EVENTFD']);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: the file in flight at another offset fails the check', async () => {
  assert.match(await restoreAndFinish(d, (dir) => editImage(dir, 'files.img', (es) => {
    const reg = es.find((f) => f.type === 'REG' && String((f.reg as MessageValue).name).endsWith('/f'))!.reg as MessageValue;
    reg.pos = 5n;
  })), /^FAIL: the file in flight is at offset 5, want 3/);
});

test('a loop of sockets sent in each other\'s queues, bound to abstract names: the killed task\'s still hold the names; restore has them freed and binds them', async () => {
  const l = await startAndDump('rt-scm', ['loop']);
  all.push(l);
  const names = [0, 1].map((i) => `@rt-scm-loop-${l.pid}-${i}`);
  const held = () => readFileSync('/proc/net/unix', 'utf8').split('\n').filter((line) => names.some((n) => line.endsWith(` ${n}`)));
  assert.equal(held().length, 2, 'the dead loop keeps both names until the kernel collects it');
  assert.equal(await restoreAndFinish(l), 'PASS');
  // The names are the check's: another name in the image fails it.
  const m = await startAndDump('rt-scm', ['loop']);
  all.push(m);
  assert.match(await restoreAndFinish(m, (dir) => editImage(dir, 'files.img', (es) => {
    const sk = es.find((f) => f.type === 'UNIXSK' && Buffer.from(((f.usk as MessageValue).name as Buffer) ?? []).toString('latin1').endsWith('-0'))!.usk as MessageValue;
    sk.name = Buffer.from(`\0rt-scm-loop-${m.pid}-9`, 'latin1');
  })), /^FAIL: l1's queue holds a socket named 'rt-scm-loop-\d+-9', want 'rt-scm-loop-\d+-0'/);
});
