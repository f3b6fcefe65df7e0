// Netlink sockets (zdtm's sk-netlink): test/programs/rt-netlink.c holds a NETLINK_ROUTE socket
// bound to a port id and groups (one beyond bind's 32) with options, an unbound SOCK_DGRAM one,
// and two NETLINK_USERSOCK sockets, one connected to the other; after a round trip it checks them
// and talks through them (the kernel answers a request; one socket sends to its peer without an
// address). Edited images (port id, groups, an option, the connection) make its checks fail. A
// socket with messages waiting to be read is refused at dump; the task runs on.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { CRYO_FILES_IMAGE, readCryoFileStats, writeCryoFileStats } from '../../src/images/cryo-image.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
const idOf = (dir: string, fd: number) => entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
const nlsk = (dir: string, fd: number) => entries(dir, 'files.img').find((f) => f.id === idOf(dir, fd))!.nlsk as MessageValue;
function editSocket(dir: string, fd: number, edit: (m: MessageValue) => void): void {
  const id = idOf(dir, fd);
  editImage(dir, 'files.img', (e) => edit(e.find((f) => f.id === id)!.nlsk as MessageValue));
}
const fd = (name: string) => Number(d!.target.ready[name]);

test('netlink sockets: dumped as CRIU 4.2 writes them, restored, the task talks through them', async () => {
  d = await startAndDump('rt-netlink');
  const rt = nlsk(d.images, fd('rt'));
  assert.deepEqual([Number(rt.protocol), Number(rt.portid), (rt.groups as number[]).map(Number)], [0, d.pid + 1000000, [1, 1]]);
  const ub = nlsk(d.images, fd('ub'));
  assert.deepEqual([Number(ub.protocol), Number(ub.state), Number(ub.dst_portid), Number(ub.portid)], [2, 1, d.pid + 2000000, fd('ubport')]);
  const dg = nlsk(d.images, fd('dg'));
  assert.equal(Number(dg.portid), 0);
  assert.equal(readCryoFileStats(d.images).get(Number(dg.id))?.socketType, 2);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: port id, groups, an option, the connection: the task notices', async () => {
  assert.match(await restoreAndFinish(d!, (dir) => editSocket(dir, fd('rt'), (m) => { m.portid = d!.pid + 1000001; })), /^FAIL: rt port id \d+, want \d+/);
  assert.match(await restoreAndFinish(d!, (dir) => editSocket(dir, fd('rt'), (m) => { m.groups = [1]; })), /^FAIL: rt groups 0x1 0x0, want 0x1 0x1/);
  assert.match(await restoreAndFinish(d!, (dir) => {
    const stats = readCryoFileStats(dir);
    stats.get(Number(nlsk(dir, fd('rt')).id))!.netlinkOpts = 0;
    writeCryoFileStats(path.join(dir, CRYO_FILES_IMAGE), [...stats.values()]);
  }), /^FAIL: rt options EXT_ACK 0 GET_STRICT_CHK 0 PKTINFO 0/);
  assert.match(await restoreAndFinish(d!, (dir) => editSocket(dir, fd('ub'), (m) => { m.state = 0; })), /^FAIL: (ub send \(connected\?\)|ua got nothing)/);
});

test('a netlink socket with messages waiting is refused at dump in one line; the task runs on unharmed', async () => {
  const t = startTarget('rt-netlink', ['unread']);
  try {
    await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`fd ${t.ready.rt} of task ${t.pid} \\(netlink socket:\\[\\d+\\]\\) has messages waiting to be read: cryo cannot dump those`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
