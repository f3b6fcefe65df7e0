// Packet sockets (zdtm's packet_sock, packet_sock_spkt): test/programs/rt-packet.c holds SOCK_RAW
// and SOCK_DGRAM packet sockets with a TPACKET version, flags, rings (one mapped: packet_sock_mmap), memberships (one added
// twice) and a fanout group, and SOCK_PACKET ones bound and unbound; after a round trip it checks
// them and receives through one. Edited images (version, a membership, the fanout group, a ring)
// make its checks fail. An option CRIU's entry has no field for, and a ring mapped after its socket
// was closed, are refused at dump; the task runs on.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
const idOf = (dir: string, fd: number) => entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
const psk = (dir: string, fd: number) => entries(dir, 'files.img').find((f) => f.id === idOf(dir, fd))!.psk as MessageValue;
function editSocket(dir: string, fd: number, edit: (m: MessageValue) => void): void {
  const id = idOf(dir, fd);
  editImage(dir, 'files.img', (e) => edit(e.find((f) => f.id === id)!.psk as MessageValue));
}
const fd = (name: string) => Number(d!.target.ready[name]);
const TPACKET_V2 = 1;
const PROMISC = 1;

test('packet sockets: dumped as CRIU 4.2 writes them, restored, the task receives through them', async () => {
  d = await startAndDump('rt-packet');
  const p1 = psk(d.images, fd('p1'));
  assert.deepEqual([Number(p1.type), Number(p1.protocol), Number(p1.version), p1.aux_data], [3, 0, TPACKET_V2, true]);
  assert.deepEqual((p1.mclist as MessageValue[]).map((m) => Number(m.type)), [PROMISC, PROMISC], 'added twice: two entries');
  assert.deepEqual([Number((p1.rx_ring as MessageValue).frame_nr), p1.tx_ring], [4, undefined]);
  const p2 = psk(d.images, fd('p2'));
  // The protocol as socket() took it: htons(ETH_P_IP), read in the host's order.
  assert.equal(Number(p2.protocol), Buffer.from([8, 0]).readUInt16LE(0) === 8 ? 8 : 0x800);
  assert.deepEqual([Number(p2.reserve), p2.orig_dev, Number(p2.fanout) & 0xffff], [8, true, fd('fg')]);
  assert.equal(Number(psk(d.images, fd('p3')).type), 10);
  // The ring's mapping: VMA_AREA_SOCKET | VMA_AREA_REGULAR, shmid the socket's file id (as CRIU).
  const mm = entries(d.images, `mm-${d.pid}.img`)[0]!;
  const ring = (mm.vmas as MessageValue[]).find((v) => BigInt(v.start as bigint) === BigInt(d!.target.ready.ring!))!;
  assert.deepEqual([Number(ring.status), Number(ring.shmid)], [(1 << 11) | 1, Number(p1.id)]);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: version, a membership, the fanout group, a ring: the task notices', async () => {
  assert.match(await restoreAndFinish(d!, (dir) => editSocket(dir, fd('p1'), (m) => { m.version = 0; })), /^FAIL: p1 version 0, want 1/);
  assert.match(await restoreAndFinish(d!, (dir) => editSocket(dir, fd('p1'), (m) => { (m.mclist as MessageValue[]).pop(); })), /^FAIL: promisc membership gone after one drop/);
  assert.match(await restoreAndFinish(d!, (dir) => editSocket(dir, fd('p2'), (m) => { m.fanout = Number(m.fanout) ^ 1; })), /^FAIL: fanout 0x/);
  assert.match(await restoreAndFinish(d!, (dir) => editSocket(dir, fd('p2'), (m) => { delete m.tx_ring; })), /^FAIL: p2 has no TX ring to map/);
  // The mapping made from p2 (whose TX ring is as large) instead of p1.
  assert.match(await restoreAndFinish(d!, (dir) => editImage(dir, `mm-${d!.pid}.img`, (es) => {
    const v = (es[0]!.vmas as MessageValue[]).find((x) => BigInt(x.start as bigint) === BigInt(d!.target.ready.ring!))!;
    v.shmid = Number(idOf(dir, fd('p2')));
  })), /^FAIL: p1's ring is not mapped at 0x[0-9a-f]+ any more/);
});

test('PACKET_QDISC_BYPASS (no field in CRIU\'s entry) is refused at dump in one line; the task runs on unharmed', async () => {
  const t = startTarget('rt-packet', ['bypass']);
  try {
    await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`fd ${t.ready.p1} of task ${t.pid} \\(packet socket:\\[\\d+\\]\\) has PACKET_QDISC_BYPASS set: cryo cannot dump that yet`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('a ring still mapped after its socket was closed is refused at dump in one line; the task runs on unharmed', async () => {
  const t = startTarget('rt-packet', ['closed']);
  try {
    await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`task ${t.pid} maps socket:\\[\\d+\\] at 0x[0-9a-f]+ without a packet socket descriptor of it \\(closed, another process's, or another kind of socket\\): cryo cannot dump that`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
