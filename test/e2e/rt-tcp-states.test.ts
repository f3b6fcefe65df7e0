// TCP sockets in the states servers hold besides one listener and established connections
// (test/programs/rt-tcp-states.c). Restored: an SO_REUSEPORT group of two listeners on one port
// (new connections still reach both), and a socket bound to a port but neither listening nor
// connected (it still holds the port, then listens on it). Refused at dump with one line naming
// the socket and its state, the task running on unharmed: a listener with a connection queued and
// not yet accepted, and a half-closed connection (FIN_WAIT2 on the end that shut down its sending
// side, CLOSE_WAIT on the other); and at restore, an image that says so. Edited images (the bound
// port, SO_REUSEPORT off on one listener of the group) fail. A connection whose listener stays
// outside the dump, on the same port (a server's per-connection process, as sshd's sessions), comes
// back; one whose four addresses another live connection has is refused before anything starts.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import { imageFileName } from '../../src/images/names.js';
import type { MessageValue } from '../../src/images/value.js';
import { dump } from '../../src/dump/index.js';
import { __WALL, kill, waitpid } from '../../src/sys/index.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, imagesCopy, restoreAndFinish, restoreRefused, startAndDump, type Dumped } from '../helpers/round-trip.js';
import { restoreTask } from '../helpers/cryo-ops.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const TCP_LISTEN = 10;
const TCP_CLOSE = 7;
const TCP_FIN_WAIT1 = 4;
const TCP_FIN_WAIT2 = 5;
const TCP_CLOSE_WAIT = 8;
const TCP_LAST_ACK = 9;
const TCP_CLOSING = 11;

/** A TCP port nothing holds right now. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

function editSockets(dir: string, edit: (isk: MessageValue[]) => void): void {
  editImage(dir, 'files.img', (es) => edit(es.filter((f) => f.type === 'INETSK').map((f) => f.isk as MessageValue)));
}

test('an SO_REUSEPORT group of two listeners and a bound, unconnected socket come back', async () => {
  d = await startAndDump('rt-tcp-states');
  const gport = Number(d.target.ready.gport);
  const bport = Number(d.target.ready.bport);
  const isk = entries(d.images, 'files.img').filter((f) => f.type === 'INETSK').map((f) => f.isk as MessageValue);
  const group = isk.filter((s) => Number(s.src_port) === gport);
  assert.equal(group.length, 2);
  for (const s of group) {
    assert.equal(Number(s.state), TCP_LISTEN);
    assert.equal((s.opts as MessageValue).so_reuseport, true);
  }
  const bound = isk.find((s) => Number(s.src_port) === bport)!;
  assert.equal(Number(bound.state), TCP_CLOSE, 'a bound socket is CLOSE, as CRIU writes it');
  assert.equal(await restoreAndFinish(d), 'PASS');
});

test('edited images: another bound port fails; a listener of the group without SO_REUSEPORT fails', async () => {
  const bport = Number(d!.target.ready.bport);
  const gport = Number(d!.target.ready.gport);
  const other = await freePort();
  assert.match(await restoreAndFinish(d!, (dir) => editSockets(dir, (s) => { s.find((x) => Number(x.src_port) === bport)!.src_port = other; })),
    /^FAIL: bound socket on port/);
  assert.match(await restoreAndFinish(d!, (dir) => editSockets(dir, (s) => {
    (s.find((x) => Number(x.src_port) === gport)!.opts as MessageValue).so_reuseport = false;
  })), /^FAIL: SO_REUSEPORT is off on a listener of the group/);
});

test('a listener with a connection not yet accepted: the dump is refused naming it, the task runs on unharmed', async () => {
  const t = startTarget('rt-tcp-states', ['inflight']);
  try {
    const lport = t.ready.lport;
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images'), tcpEstablished: true }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^fd \\d+ of task ${t.pid} \\(TCP 127\\.0\\.0\\.1:${lport}\\) is listening with 1 connection\\(s\\) not yet accepted`));
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

let h: Dumped | undefined;
after(() => cleanupDumped(h));

const streamFile = (dir: string, isk: MessageValue) => path.join(dir, imageFileName('tcpStream', Number(isk.ino)));
const stream = (dir: string, isk: MessageValue) => decodeImageFile(streamFile(dir, isk)).entries[0]!;
function editConnection(dir: string, port: number, edit: (isk: MessageValue, dir: string) => void): void {
  editSockets(dir, (s) => edit(s.find((x) => Number(x.src_port) === port)!, dir));
}

test('half-closed connections (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING) come back: the bytes left, then the end of stream; writes after shutdown fail; the FINs are acknowledged', async () => {
  h = await startAndDump('rt-tcp-states', ['halfclosed'], { tcpEstablished: true });
  const r = h.target.ready;
  const isk = entries(h.images, 'files.img').filter((f) => f.type === 'INETSK').map((f) => f.isk as MessageValue);
  const stateOf = (port: number) => Number(isk.find((s) => Number(s.src_port) === port)!.state);
  assert.deepEqual([r.aport, r.pport, r.eport, r.dport, r.kport, r.mport].map((p) => stateOf(Number(p))),
    [TCP_FIN_WAIT2, TCP_CLOSE_WAIT, TCP_FIN_WAIT1, TCP_LAST_ACK, TCP_CLOSING, TCP_FIN_WAIT1]);
  // CLOSE_WAIT: the 10 unread bytes, without the FIN; FIN_WAIT1: the bytes queued, without the FIN.
  const p = isk.find((s) => Number(s.src_port) === Number(r.pport))!;
  assert.equal(Number(stream(h.images, p).value.inq_len), 10);
  const e = isk.find((s) => Number(s.src_port) === Number(r.eport))!;
  assert.ok(Number(stream(h.images, e).value.outq_len) > 0 && Number(stream(h.images, e).value.outq_len) <= Number(r.en));
  assert.equal(await restoreAndFinish(h, undefined, { restore: { tcpEstablished: true } }), 'PASS');
});

/** Edits the tcp-stream image of the connection whose image entry is `isk` (its value and its queues). */
function editStream(dir: string, isk: MessageValue, edit: (v: MessageValue, q: { inq: Buffer; outq: Buffer }) => void): void {
  const file = streamFile(dir, isk);
  const img = decodeImageFile(file);
  edit(img.entries[0]!.value, img.entries[0]!.extra as { inq: Buffer; outq: Buffer });
  writeFileSync(file, encodeImage(img));
}

/** Restores a fresh dump of the half-closed connections with `edit` applied. Each edit gets its own dump (its own
 *  ports): a connection an earlier restore rebuilt lingers in TIME_WAIT, and the kernel lets a repair-mode connect()
 *  reuse those four addresses only when the TIME_WAIT carries TCP timestamps. */
async function restoreEditedHalfClosed(edit: (dir: string, pport: number) => void): Promise<string> {
  const x = await startAndDump('rt-tcp-states', ['halfclosed'], { tcpEstablished: true });
  try {
    const pport = Number(x.target.ready.pport);
    return await restoreAndFinish(x, (dir) => edit(dir, pport), { restore: { tcpEstablished: true } });
  } finally {
    cleanupDumped(x);
  }
}

test('edited half-closed images fail: another state, other unread bytes, a FIN one sequence number off', async () => {
  // CLOSE_WAIT made ESTABLISHED: no FIN is replayed.
  assert.match(await restoreEditedHalfClosed((dir, pport) => editConnection(dir, pport, (s) => { s.state = 1; })), /^FAIL: states now a 5 p 1 e 4 d 9 c 5 k 11 m 4 /);
  assert.match(await restoreEditedHalfClosed((dir, pport) => editConnection(dir, pport, (s, d) => editStream(d, s, (_v, q) => { q.inq.write('B', 0); }))),
    /^FAIL: p read 'Before-fin'/);
  // p's receive side one ahead: what p sends acknowledges a byte a never sent, and a drops it.
  assert.match(await restoreEditedHalfClosed((dir, pport) => editConnection(dir, pport, (s, d) => editStream(d, s, (v) => { v.inq_seq = (Number(v.inq_seq) + 1) >>> 0; }))),
    /^FAIL: a read ''/);
});

test('both ends of a connection in one process with bytes never sent (full windows both ways) come back, every byte in order', async () => {
  const x = await startAndDump('rt-tcp-states', ['full'], { tcpEstablished: true });
  try {
    const r = x.target.ready;
    const isk = entries(x.images, 'files.img').filter((f) => f.type === 'INETSK').map((f) => f.isk as MessageValue);
    // Each end's send queue has a part never sent: what restore must write once its peer exists.
    for (const port of [r.cport, r.sport]) {
      const v = stream(x.images, isk.find((s) => Number(s.src_port) === Number(port))!).value;
      assert.ok(Number(v.unsq_len) > 0, `port ${port}: unsent bytes in the image`);
    }
    assert.equal(await restoreAndFinish(x, undefined, { restore: { tcpEstablished: true } }), 'PASS');
  } finally {
    cleanupDumped(x);
  }
  // An unsent byte of c's queue edited: s reads it.
  const y = await startAndDump('rt-tcp-states', ['full'], { tcpEstablished: true });
  try {
    const cport = Number(y.target.ready.cport);
    assert.match(await restoreAndFinish(y, (dir) => editConnection(dir, cport, (s, d) => editStream(d, s, (v, q) => {
      const last = Number(v.outq_len) - 1;
      q.outq[last] = q.outq[last]! ^ 0xff;
    })), { restore: { tcpEstablished: true } }), /^FAIL: s: byte \d+ is /);
  } finally {
    cleanupDumped(y);
  }
});

test('a listener with a half-closed connection: without --tcp-established the dump is refused naming it, the task runs on unharmed', async () => {
  const t = startTarget('rt-tcp-states', ['halfclosed']);
  try {
    const { aport } = t.ready;
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images') }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^the TCP connection 127\\.0\\.0\\.1:${aport} -> 127\\.0\\.0\\.1:\\d+ \\(fd \\d+ of task ${t.pid}\\) is half-closed \\(FIN_WAIT2\\): pass --tcp-established`));
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('an image whose connection is in a state cryo cannot rebuild (SYN_RECV) is refused at restore, naming it and its state', async () => {
  // The group dump has no connection: one of its listeners is made a connection in SYN_RECV.
  const TCP_SYN_RECV = 3;
  await assert.rejects(restoreAndFinish(d!, (dir) => editSockets(dir, (s) => {
    const g = s.find((x) => Number(x.state) === TCP_LISTEN)!;
    g.state = TCP_SYN_RECV;
    g.dst_port = 1;
    g.dst_addr = g.src_addr;
  }), { restore: { tcpEstablished: true } }), /is a TCP connection \(TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:1\) in state SYN_RECV: cryo restores established, half-closed and ended connections only/);
});

/** Kills the listener's process of mode behind, which the test (a child subreaper) inherited, and reaps it. */
function endHolder(pid: number): void {
  try {
    kill(pid, 9);
    waitpid(pid, __WALL);
  } catch { /* ended already */ }
}

test('a connection accepted by a listener that stays outside the dump, on its port, comes back; one with the addresses of another live connection is refused before anything starts', async () => {
  const b = await startAndDump('rt-tcp-states', ['behind'], { tcpEstablished: true });
  const holder = Number(b.target.ready.holder);
  try {
    const lport = Number(b.target.ready.lport);
    // The connection's ends swapped: the addresses of the holder's client end, which lives on.
    const err = await restoreRefused(b, (dir) => editSockets(dir, (s) => {
      const c = s.find((x) => Number(x.src_port) === lport)!;
      [c.src_port, c.dst_port] = [c.dst_port, c.src_port];
    }), { tcpEstablished: true });
    assert.match(err, new RegExp(`\\(TCP 127\\.0\\.0\\.1:\\d+ -> 127\\.0\\.0\\.1:${lport}\\): EADDRNOTAVAIL: another connection on this machine has the same addresses$`));
    assert.equal(await restoreAndFinish(b, undefined, { restore: { tcpEstablished: true } }), 'PASS');
  } finally {
    endHolder(holder);
    cleanupDumped(b);
  }
});

test('a process outside the dump still in the process group and session the dumped process led keeps its PID in use: refused before anything starts, naming it (a zombie after 3 s)', async () => {
  const b = await startAndDump('rt-tcp-states', ['behind', 'group'], { tcpEstablished: true });
  const holder = Number(b.target.ready.holder);
  try {
    const err = await restoreRefused(b, () => {}, { tcpEstablished: true });
    assert.equal(err, `PID ${b.pid} is still in use by 'rt-tcp-states' (pid ${holder}), in the process group of that ID, which the dumped process led: end it, or have it leave (setsid), to free the PID`);
    // Killed, it stays a zombie until the test (its reaper) reaps it: waited for 3 s, then named.
    kill(holder, 9);
    const zombie = await restoreTask({ dir: imagesCopy(b), tcpEstablished: true }).then(() => 'restored', (e: Error) => e.message);
    assert.equal(zombie, `PID ${b.pid} is still in use by 'rt-tcp-states' (pid ${holder}), in the process group of that ID, a zombie nobody reaped within 3 s: have its parent reap it, or try again`);
    endHolder(holder);
    // Restored once it is gone (its end of the connection with it: the task's ping finds no peer).
    assert.match(await restoreAndFinish(b, undefined, { restore: { tcpEstablished: true } }), /^FAIL: (write|read) /);
  } finally {
    endHolder(holder);
    cleanupDumped(b);
  }
});
