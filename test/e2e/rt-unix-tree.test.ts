// Unix sockets shared across a process tree come back connected: test/programs/rt-unix-tree.c
// (a stream and a datagram socketpair split between parent and child with data queued, a
// connection from the child to the parent's listener, accepted, with data queued both ways) is
// dumped as a tree, restored, and parent and child check their ends and talk again. An edited
// queue byte fails the child's check.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const values = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
let d: Dumped;

test('unix sockets across a parent and its child: dumped once each, restored connected with their queues; both pass', async () => {
  d = await startAndDump('rt-unix-tree');
  all.push(d);
  assert.equal(values(d.images, 'pstree.img').length, 2);
  const child = Number(d.target.ready.child);
  const childFds = values(d.images, `fdinfo-${values(d.images, `ids-${child}.img`)[0]!.files_id}.img`);
  const parentFds = values(d.images, `fdinfo-${values(d.images, `ids-${d.pid}.img`)[0]!.files_id}.img`);
  const socks = values(d.images, 'files.img').filter((f) => f.type === 'UNIXSK').map((f) => f.usk as MessageValue);
  const sp0 = socks.find((u) => u.id === parentFds.find((f) => Number(f.fd) === Number(d.target.ready.sp0))!.id)!;
  const sp1 = socks.find((u) => Number(u.ino) === Number(sp0.peer))!;
  assert.ok(childFds.some((f) => f.id === sp1.id), 'the other end is the child\'s');
  assert.equal(readdirSync(d.images).filter((n) => n === 'sk-queues.img').length, 1);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited image: a changed byte queued for the child fails its check', async () => {
  const socks = values(d.images, 'files.img').filter((f) => f.type === 'UNIXSK').map((f) => f.usk as MessageValue);
  const parentFds = values(d.images, `fdinfo-${values(d.images, `ids-${d.pid}.img`)[0]!.files_id}.img`);
  const sp0 = socks.find((u) => u.id === parentFds.find((f) => Number(f.fd) === Number(d.target.ready.sp0))!.id)!;
  const sp1 = socks.find((u) => Number(u.ino) === Number(sp0.peer))!;
  assert.match(await restoreAndFinish(d, (dir) => {
    const file = path.join(dir, 'sk-queues.img');
    const img = decodeImageFile(file);
    const q = img.entries.find((e) => e.value.id_for === sp1.id) as { extra?: unknown };
    const b = Buffer.from(q.extra as Buffer);
    b[0] = 0x71; // q
    q.extra = b;
    writeFileSync(file, encodeImage(img));
  }), /^FAIL: child stream got 'q-to-c', want 'p-to-c'/);
});
