// TCP and UDP sockets come back: test/programs/rt-inet.c (a TCP listener on 127.0.0.1, an
// established connection whose two ends the task holds itself with unread bytes queued both ways,
// a UDP socket on [::1], an unconnected TCP socket with options set, a connected UDP pair) is
// dumped with --tcp-established, restored, and checks itself on SIGTERM. Without the option the
// dump is refused naming the connection, and the task runs on unharmed; so is a restore. Edited
// images (another port, another queued byte) make the task's own checks fail.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import { writeFileSync } from 'node:fs';
import type { MessageValue } from '../../src/images/value.js';
import { dump } from '../../src/dump/index.js';
import { restore } from '../../src/restore/index.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { readU32 } from '../../src/sys/index.js';

const all: Dumped[] = [];
after(() => all.forEach(cleanupDumped));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const fdinfoName = (dir: string) => readdirSync(dir).find((n) => /^fdinfo-\d+\.img$/.test(n))!;
function fileOf(dir: string, fd: number): MessageValue {
  const id = entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
  return entries(dir, 'files.img').find((f) => f.id === id)!;
}
function editSocket(dir: string, fd: number, edit: (m: MessageValue) => void): void {
  const id = entries(dir, fdinfoName(dir)).find((f) => Number(f.fd) === fd)!.id;
  editImage(dir, 'files.img', (e) => edit(e.find((f) => f.id === id)!.isk as MessageValue));
}
/** A TCP port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

let d: Dumped;
let r: Record<string, number>;

test('without --tcp-established the dump is refused naming the connection; the task runs on unharmed', async () => {
  const t = startTarget('rt-inet');
  try {
    const q = t.ready;
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      new RegExp(`the TCP connection 127\\.0\\.0\\.1:(${q.cport}|${q.lport}) -> 127\\.0\\.0\\.1:(${q.lport}|${q.cport}) \\(fd \\d+ of task ${t.pid}\\) is established: pass --tcp-established`));
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('with --tcp-established --leave-running the task keeps its connection (repair mode left cleanly)', async () => {
  const t = startTarget('rt-inet');
  try {
    await dump({ pid: t.pid, dir: path.join(t.dir, 'images'), tcpEstablished: true, leaveRunning: true });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('TCP listener, established connection, UDP v4/v6, options: dumped as CRIU 4.2 writes them, restored, the task passes', async () => {
  d = await startAndDump('rt-inet', [], { tcpEstablished: true });
  all.push(d);
  r = Object.fromEntries(Object.entries(d.target.ready).map(([k, v]) => [k, Number(v)]));
  const lis = fileOf(d.images, r.lis!);
  assert.equal(lis.type, 'INETSK');
  const l = lis.isk as MessageValue;
  assert.deepEqual([Number(l.family), Number(l.type), Number(l.proto), Number(l.state), Number(l.src_port), Number(l.backlog)], [2, 1, 6, 10, r.lport, 7]);
  assert.equal((l.opts as MessageValue).reuseaddr, true);
  const u6 = fileOf(d.images, r.u6!).isk as MessageValue;
  assert.deepEqual([Number(u6.family), Number(u6.proto), Number(u6.src_port), u6.v6only], [10, 17, r.u6port, true]);
  // ::1 as CRIU keeps it: the in6_addr's bytes read as four uint32 in the host's order.
  assert.deepEqual((u6.src_addr as number[]).map(Number), [0, 0, 0, readU32(Buffer.from([0, 0, 0, 1]), 0)]);
  const tcp = fileOf(d.images, r.tcp!).isk as MessageValue;
  assert.equal((tcp.opts as MessageValue).so_keepalive, true);
  assert.equal((tcp.tcp_opts as MessageValue).nodelay, true);
  assert.equal(Number(tcp.flags) & 0o4000, 0o4000);
  const srv = fileOf(d.images, r.srv!).isk as MessageValue;
  assert.deepEqual([Number(srv.state), Number(srv.src_port), Number(srv.dst_port)], [1, r.lport, r.cport]);
  const stream = decodeImageFile(path.join(d.images, `tcp-stream-${Number(srv.ino).toString(16)}.img`)).entries[0]!;
  assert.equal(Number(stream.value.inq_len), 3000);
  assert.equal((stream.extra as { inq: Buffer }).inq.length, 3000);

  // A restore needs the option too.
  await assert.rejects(restore({ dir: imagesCopy(d), detach: true }), /fd \d+ is an established TCP connection \(TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+\): restore it with --tcp-established/);
  assert.equal(await restoreAndFinish(d, undefined, { restore: { tcpEstablished: true } }), 'PASS');
});

test('edited images: another port, another queued byte: the task notices', async () => {
  const port = await freePort();
  assert.match(await restoreAndFinish(d, (dir) => editSocket(dir, r.lis!, (m) => { m.src_port = port; }), { restore: { tcpEstablished: true } }),
    new RegExp(`^FAIL: listener port ${port}, want ${r.lport}`));
  assert.match(await restoreAndFinish(d, (dir) => {
    const srv = fileOf(dir, r.srv!).isk as MessageValue;
    const file = path.join(dir, `tcp-stream-${Number(srv.ino).toString(16)}.img`);
    const img = decodeImageFile(file);
    const q = img.entries[0]!.extra as { inq: Buffer };
    q.inq[17] ^= 0xff;
    writeFileSync(file, encodeImage(img));
  }, { restore: { tcpEstablished: true } }), /^FAIL: server end: old byte 17 is 0x[0-9a-f]{2}, want 0x[0-9a-f]{2}/);
});

test('UDP-Lite sockets: bound, one connected to the other', async () => {
  const u = await startAndDump('rt-udplite');
  all.push(u);
  const sk = fileOf(u.images, 5).isk as MessageValue;
  assert.deepEqual([Number(sk.type), Number(sk.proto)], [2, 136]);
  assert.equal(await restoreAndFinish(u), 'PASS');
  const udp = await restoreAndFinish(u, (dir) => editSocket(dir, 5, (m) => { m.proto = 17; }));
  assert.match(udp, /^FAIL: fd 5 protocol 17, want 136 \(UDP-Lite\)/);
  const port = await freePort();
  const moved = await restoreAndFinish(u, (dir) => editSocket(dir, 5, (m) => { m.src_port = port; }));
  assert.match(moved, new RegExp(`^FAIL: ports \\d+, ${port} -> `));
});
