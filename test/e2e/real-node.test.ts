// A real program: the machine's node runs an HTTP server (test/programs/real/http-counter.mjs)
// with a setInterval counter and a worker thread that counts and reports by postMessage. It is
// dumped (no client connected), every thread is gone, it is restored, and over HTTP it must
// answer with both counters larger than before the dump and the worker's reports still arriving.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { dumpReal, restoreReal, startReal, tcpConnectionsHeld, tcpExchange, waitReady, waitUntil, type RealProgram } from '../helpers/real-program.js';

const NODE = process.execPath;
const script = path.join(repoRoot, 'test', 'programs', 'real', 'http-counter.mjs');

interface Counters { pid: number; ticks: number; workerTicks: number; workerSeen: number }

async function get(port: number): Promise<Counters> {
  const text = await tcpExchange(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  const [head, body] = text.split('\r\n\r\n');
  assert.match(head ?? '', /^HTTP\/1\.1 200 /, `HTTP answer: ${text.slice(0, 200)}`);
  return JSON.parse(body!) as Counters;
}

const progs: RealProgram[] = [];
after(() => progs.forEach((p) => p.cleanup()));

async function startServer(env: Record<string, string>): Promise<{ p: RealProgram; port: number }> {
  const p = startReal('node', [NODE, script, 'out.txt'], env);
  progs.push(p);
  const ready = await waitReady(p, 'the node server', 10_000);
  return { p, port: Number(/port=(\d+)/.exec(ready)![1]) };
}

const usesIoUring = (pid: number) => readdirSync(`/proc/${pid}/fd`).some((fd) => {
  try { return readlinkSync(`/proc/${pid}/fd/${fd}`).includes('io_uring'); } catch { return false; }
});

test('a Node.js HTTP server with a timer and a worker thread answers after restore, its counters continued', { timeout: 60_000 }, async (t) => {
  // This one keeps libuv on epoll and threads; real-node-uring.test.ts runs node on io_uring.
  const { p, port } = await startServer({ UV_USE_IO_URING: '0' });
  assert.equal(usesIoUring(p.pid), false);

  const a = await get(port);
  assert.equal(a.pid, p.pid);
  const b = await waitUntil('the counters to move', 5000, async () => {
    const c = await get(port);
    return c.ticks > a.ticks && c.workerTicks > a.workerTicks ? c : undefined;
  });
  await waitUntil('the server to close its client connections', 5000, () => (tcpConnectionsHeld(p.pid).length === 0 ? true : undefined));
  const threads = p.threads().length;
  assert.ok(threads > 2, `node runs several threads (${threads})`);

  const images = await dumpReal(p);
  await restoreReal(p, images, threads);

  const c = await get(port);
  assert.equal(c.pid, p.pid);
  assert.ok(c.ticks >= b.ticks, `main counter kept its value: ${c.ticks} after restore, ${b.ticks} before`);
  assert.ok(c.workerTicks >= b.workerTicks, `worker counter kept its value: ${c.workerTicks} after, ${b.workerTicks} before`);
  const d = await waitUntil('both counters to move on after restore', 5000, async () => {
    const x = await get(port);
    return x.ticks > c.ticks + 2 && x.workerTicks > c.workerTicks + 2 && x.workerSeen > c.workerSeen ? x : undefined;
  });
  assert.ok(d.ticks > b.ticks && d.workerTicks > b.workerTicks);
  t.diagnostic(`${threads} threads; before dump ${JSON.stringify(b)}; after restore ${JSON.stringify(c)} then ${JSON.stringify(d)}`);

  // Again, the restored server this time, with a client connected in the middle of a request
  // (kept through TCP repair): the rest of the request comes after restore and is answered.
  const client = net.connect({ host: '127.0.0.1', port });
  let answer = '';
  client.on('data', (x) => { answer += x; });
  await new Promise((ok, fail) => { client.once('connect', ok); client.once('error', fail); });
  client.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');
  await waitUntil('the server to accept the connection', 5000, () => (tcpConnectionsHeld(p.pid).length === 1 ? true : undefined));
  const images2 = await dumpReal(p, { tcpEstablished: true });
  await restoreReal(p, images2, threads, { tcpEstablished: true });
  client.write('Connection: close\r\n\r\n');
  await waitUntil('the answer on the kept connection', 5000, () => (answer.includes('}') ? true : undefined));
  client.destroy();
  assert.match(answer, /^HTTP\/1\.1 200 /);
  const e = JSON.parse(answer.split('\r\n\r\n')[1]!) as Counters;
  // The answer may come before either timer fires again: it must keep the values, and the
  // counters must then move on.
  assert.ok(e.ticks >= d.ticks && e.workerTicks >= d.workerTicks, `counters kept through the second round trip: ${JSON.stringify(e)} after, ${JSON.stringify(d)} before`);
  await waitUntil('both counters to move on after the second restore', 5000, async () => {
    const x = await get(port);
    return x.ticks > e.ticks && x.workerTicks > e.workerTicks && x.workerSeen > e.workerSeen ? x : undefined;
  });

  p.stop();
});
