// TCP sockets in the states servers hold besides one listener and established connections
// (test/programs/rt-tcp-states.c). Restored: an SO_REUSEPORT group of two listeners on one port
// (new connections still reach both), and a socket bound to a port but neither listening nor
// connected (it still holds the port, then listens on it). Refused at dump with one line naming
// the socket and its state, the task running on unharmed: a listener with a connection queued and
// not yet accepted, and a half-closed connection (FIN_WAIT2 on the end that shut down its sending
// side, CLOSE_WAIT on the other); and at restore, an image that says so. Edited images (the bound
// port, SO_REUSEPORT off on one listener of the group) fail.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import path from 'node:path';
import { decodeImageFile } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { dump } from '../../src/dump/index.js';
import { editImage } from '../helpers/restore-env.js';
import { startTarget } from '../helpers/dump-target.js';
import { cleanupDumped, restoreAndFinish, startAndDump, type Dumped } from '../helpers/round-trip.js';

let d: Dumped | undefined;
after(() => cleanupDumped(d));

const entries = (dir: string, file: string) => decodeImageFile(path.join(dir, file)).entries.map((e) => e.value);
const TCP_LISTEN = 10;
const TCP_CLOSE = 7;

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

test('a half-closed connection (FIN_WAIT2 / CLOSE_WAIT): the dump is refused naming it and its state, the task runs on unharmed', async () => {
  const t = startTarget('rt-tcp-states', ['halfclosed']);
  try {
    const { aport, pport } = t.ready;
    await assert.rejects(dump({ pid: t.pid, dir: path.join(t.dir, 'images'), tcpEstablished: true }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^the TCP connection 127\\.0\\.0\\.1:(${aport} -> 127\\.0\\.0\\.1:${pport} \\(fd \\d+ of task ${t.pid}\\) is in state FIN_WAIT2|${pport} -> 127\\.0\\.0\\.1:${aport} \\(fd \\d+ of task ${t.pid}\\) is in state CLOSE_WAIT)`));
        assert.doesNotMatch(e.message, /\n/);
        return true;
      });
    assert.equal(t.finish(), 'PASS');
  } finally {
    t.cleanup();
  }
});

test('an image whose connection is half-closed is refused at restore, naming it and its state', async () => {
  // The group dump has no connection: one of its listeners is made a connection in FIN_WAIT2.
  const TCP_FIN_WAIT2 = 5;
  await assert.rejects(restoreAndFinish(d!, (dir) => editSockets(dir, (s) => {
    const g = s.find((x) => Number(x.state) === TCP_LISTEN)!;
    g.state = TCP_FIN_WAIT2;
    g.dst_port = 1;
    g.dst_addr = g.src_addr;
  }), { restore: { tcpEstablished: true } }), /is a TCP connection \(TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:1\) in state FIN_WAIT2: cryo restores established connections only/);
});
