// Namespace files (zdtm's proc-self): test/programs/rt-nsfile.c holds /proc/self/ns/net and
// /proc/self/ns/uts open and checks after a round trip that each is still the namespace it is in.
// Edited images (the net file made a UTS one; a close-on-exec flag) make its checks fail; a file
// named for another namespace than the task's is refused before anything is made; a file of a
// namespace the task is not in is refused at dump, the task running on.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
const fdi = (dir: string, fd: number) => entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!;
const fileOf = (dir: string, fd: number) => entries(dir, 'files.img').find((f) => f.id === fdi(dir, fd).id)!;
function editNs(dir: string, fd: number, edit: (m: MessageValue) => void): void {
  const id = fdi(dir, fd).id;
  editImage(dir, 'files.img', (es) => edit(es.find((f) => f.id === id)!.nsf as MessageValue));
}
const CLONE_NEWNET = 0x40000000;
const CLONE_NEWUTS = 0x04000000;

test('namespace files: dumped as CRIU 4.2 writes them (NS, ns_file_entry), restored, the task passes', async () => {
  d = await startAndDump('rt-nsfile');
  const net = fileOf(d.images, Number(d.target.ready.net));
  assert.equal(net.type, 'NS');
  const ids = entries(d.images, `ids-${d.pid}.img`)[0]!;
  assert.deepEqual([Number((net.nsf as MessageValue).ns_cflag), Number((net.nsf as MessageValue).ns_id)], [CLONE_NEWNET, Number(ids.net_ns_id)]);
  assert.equal(Number((fileOf(d.images, Number(d.target.ready.uts)).nsf as MessageValue).ns_cflag), CLONE_NEWUTS);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: the net file made a UTS one, a close-on-exec flag dropped: the task notices; another namespace id is refused', async () => {
  const ids = entries(d!.images, `ids-${d!.pid}.img`)[0]!;
  assert.match(await restoreAndFinish(d!, (dir) => editNs(dir, Number(d!.target.ready.net), (m) => { m.ns_cflag = CLONE_NEWUTS; m.ns_id = ids.uts_ns_id!; })),
    /^FAIL: net is namespace \d+, not the program's \d+/);
  const uts = Number(d!.target.ready.uts);
  assert.match(await restoreAndFinish(d!, (dir) => editImage(dir, fdinfoName(dir), (es) => { es.find((f) => Number(f.fd) === uts)!.flags = 0; })),
    /^FAIL: uts lost FD_CLOEXEC/);
  const err = await restoreRefused(d!, (dir) => editNs(dir, Number(d!.target.ready.net), (m) => { m.ns_id = 99; }));
  assert.match(err, new RegExp(`is a file of net namespace 99, not the task's own \\(${Number(ids.net_ns_id)}\\): cryo restores files of the tree's own namespaces only`));
});

test('a file of a namespace the task is not in is refused at dump in one line; the task runs on unharmed', async () => {
  const t = startTarget('rt-nsfile', ['other']);
  try {
    await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`fd ${t.ready.other} of task ${t.pid} \\(uts:\\[\\d+\\]\\) is a file of a uts namespace the task is not in: cryo dumps files of the tree's own namespaces only`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
