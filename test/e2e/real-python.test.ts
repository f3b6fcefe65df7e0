// A real program: Debian's python3 runs test/programs/real/threads-queue.py: a producer and a
// consumer exchanging 1, 2, 3, ... through a queue.Queue, two threads passing a token back and
// forth through two queues, a ticker thread, and the main thread serving the state as JSON over
// TCP. It is dumped (no client connected), every thread is gone, it is restored; every thread
// must be alive and counting on, and the queues must have lost or repeated nothing (the
// program checks every number and token it takes and reports errors).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { dumpReal, findProgram, restoreReal, startReal, tcpConnectionsHeld, tcpExchange, waitReady, waitUntil, type RealProgram } from '../helpers/real-program.js';
import { toolSkip } from '../helpers/required-tool.js';

const PYTHON = findProgram('/usr/bin/python3');
const skip = toolSkip('/usr/bin/python3', PYTHON !== undefined, 'Debian package python3');
const script = path.join(repoRoot, 'test', 'programs', 'real', 'threads-queue.py');

interface State { pid: number; produced: number; consumed: number; token: number; ticks: number; errors: string[]; alive: string[] }

async function state(port: number): Promise<State> {
  return JSON.parse(await tcpExchange(port)) as State;
}

const THREADS = ['consumer', 'ping', 'pong', 'producer', 'ticker'];

function checkState(s: State): void {
  assert.deepEqual(s.errors, [], 'the queues lost or repeated nothing');
  assert.deepEqual(s.alive, THREADS);
  assert.ok(s.produced >= s.consumed && s.produced <= s.consumed + 64 + 1, `produced ${s.produced}, consumed ${s.consumed}`);
}

let prog: RealProgram | undefined;
after(() => prog?.cleanup());

test('a Python program with several threads and a queue keeps running after restore', { timeout: 60_000, skip }, async (t) => {
  const p = (prog = startReal('python', [PYTHON!, script, 'out.txt']));
  const ready = await waitReady(p, 'the python program', 10_000);
  const port = Number(/port=(\d+)/.exec(ready)![1]);

  const a = await state(port);
  assert.equal(a.pid, p.pid);
  const b = await waitUntil('every thread to have counted', 5000, async () => {
    const s = await state(port);
    return s.ticks > 2 && s.consumed > 2 && s.token > 2 ? s : undefined;
  });
  checkState(b);
  await waitUntil('the program to close its client connections', 5000, () => (tcpConnectionsHeld(p.pid).length === 0 ? true : undefined));
  const threads = p.threads().length;
  assert.equal(threads, 1 + THREADS.length, 'the main thread and the others');

  const images = await dumpReal(p);
  await restoreReal(p, images, threads);

  const c = await state(port);
  assert.equal(c.pid, p.pid);
  assert.ok(c.produced >= b.produced && c.consumed >= b.consumed && c.token >= b.token && c.ticks >= b.ticks, `counters kept: ${JSON.stringify(c)} after restore, ${JSON.stringify(b)} before`);
  const d = await waitUntil('every thread to count on after restore', 5000, async () => {
    const s = await state(port);
    return s.ticks > c.ticks + 2 && s.produced > c.produced + 5 && s.consumed > c.consumed + 5 && s.token > c.token + 5 ? s : undefined;
  });
  checkState(d);
  t.diagnostic(`before dump ${JSON.stringify(b)}; after restore ${JSON.stringify(d)}`);

  // The restored program goes through a second round trip.
  await waitUntil('the program to close its client connections', 5000, () => (tcpConnectionsHeld(p.pid).length === 0 ? true : undefined));
  await restoreReal(p, await dumpReal(p), threads);
  const e = await waitUntil('every thread to count on after the second restore', 5000, async () => {
    const s = await state(port);
    return s.ticks > d.ticks + 2 && s.consumed > d.consumed + 5 && s.token > d.token + 5 ? s : undefined;
  });
  checkState(e);

  p.stop();
});
