// Ping and raw sockets come back (zdtm's socket_icmp, socket6_icmp, socket-raw, sock_ip_opts00/01):
// test/programs/rt-raw.c holds a bound and connected IPv4 ping socket, an IPv6 one never bound,
// raw ICMP/ICMPv6 sockets with type filters, a raw UDP socket connected with port 0 and a raw
// IPPROTO_RAW socket with IP_HDRINCL off; after a round trip it checks its options and pings and
// sends through them. Edited images (another identifier, filter, header flag, a peer dropped) make
// its own checks fail. A raw IPv6 socket with IPV6_CHECKSUM is refused at dump; the task runs on.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { dumpTask } from '../helpers/cryo-ops.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));
// rt-raw.c allows ping sockets to group 0 where the machine allows none (a machine-wide setting): put back.
const PING_GROUPS = '/proc/sys/net/ipv4/ping_group_range';
const pingGroups = readFileSync(PING_GROUPS, 'utf8');
after(() => writeFileSync(PING_GROUPS, pingGroups));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
const idOf = (dir: string, fd: number) => entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
const sk = (dir: string, fd: number) => entries(dir, 'files.img').find((f) => f.id === idOf(dir, fd))!.isk as MessageValue;
function editSocket(dir: string, fd: number, edit: (m: MessageValue) => void): void {
  const id = idOf(dir, fd);
  editImage(dir, 'files.img', (e) => edit(e.find((f) => f.id === id)!.isk as MessageValue));
}
const raw = (m: MessageValue) => (m.ip_opts as MessageValue).raw as MessageValue;

let d: Dumped;
let r: Record<string, number>;

test('ping and raw sockets: dumped as CRIU 4.2 writes them, restored, the task pings and sends through them', async () => {
  d = await startAndDump('rt-raw');
  all.push(d);
  r = Object.fromEntries(d.readyLine.replace(/^READY /, '').split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
  const p4 = sk(d.images, r.ping4!);
  // A ping socket: SOCK_DGRAM, IPPROTO_ICMP, its echo identifier as the port, connected (ESTABLISHED).
  assert.deepEqual([Number(p4.family), Number(p4.type), Number(p4.proto), Number(p4.src_port), Number(p4.state)], [2, 2, 1, r.ident, 1]);
  assert.deepEqual([Number((p4.ip_opts as MessageValue).ttl), Number((p4.ip_opts as MessageValue).tos)], [33, 0x10]);
  const i4 = sk(d.images, r.icmp4!);
  // A raw socket's port is its protocol.
  assert.deepEqual([Number(i4.type), Number(i4.proto), Number(i4.src_port)], [3, 1, 1]);
  assert.deepEqual(raw(i4).icmpv_filter, [1 << 13]);
  assert.equal(raw(i4).nodefrag, true);
  assert.equal((raw(sk(d.images, r.icmp6!)).icmpv_filter as number[]).length, 8);
  assert.equal(raw(sk(d.images, r.rraw!)).hdrincl, false);
  assert.equal(Number(sk(d.images, r.rudp!).state), 1);
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: another identifier, filter, header flag, a peer dropped: the task notices', async () => {
  assert.match(await restoreAndFinish(d, (dir) => editSocket(dir, r.ping4!, (m) => { m.src_port = r.ident! ^ 0x100; })),
    new RegExp(`^FAIL: ping4 identifier ${r.ident! ^ 0x100}, want ${r.ident}`));
  assert.match(await restoreAndFinish(d, (dir) => editSocket(dir, r.icmp4!, (m) => { raw(m).icmpv_filter = [1 << 8]; })), /^FAIL: icmp4 ICMP_FILTER 0x100, want 0x2000/);
  assert.match(await restoreAndFinish(d, (dir) => editSocket(dir, r.icmp6!, (m) => { (raw(m).icmpv_filter as number[])[4] = 0; })), /^FAIL: icmp6 ICMPV6_FILTER changed/);
  assert.match(await restoreAndFinish(d, (dir) => editSocket(dir, r.rraw!, (m) => { raw(m).hdrincl = true; })), /^FAIL: rraw has IP_HDRINCL again/);
  assert.match(await restoreAndFinish(d, (dir) => editSocket(dir, r.rudp!, (m) => { m.state = 7; })), /^FAIL: rudp send \(connected\?\): Destination address required/);
  assert.match(await restoreAndFinish(d, (dir) => editSocket(dir, r.ping4!, (m) => { m.state = 7; })), /^FAIL: ping4 send \(connected\?\): Destination address required/);
});

test('a raw IPv6 socket with IPV6_CHECKSUM is refused at dump in one line; the task runs on unharmed', async () => {
  const t = startTarget('rt-raw', ['checksum']);
  try {
    await assert.rejects(dumpTask({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`fd \\d+ of task ${t.pid} \\(raw \\(protocol 17\\) \\[::\\]:17\\) is a raw IPv6 socket with IPV6_CHECKSUM at offset 6, not its protocol's default: cryo cannot dump that yet`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});
