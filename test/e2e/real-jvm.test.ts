// A real program: Debian's OpenJDK 17 runs test/programs/real/HttpWorkers.java (started from
// source): an HTTP server with a pool of handler threads, and worker threads busy during the
// dump (a producer and a consumer passing numbers through a queue, a ticker, a spinner). It is
// dumped with no client connected, every thread is gone, and it is restored: a real HTTP client
// gets answers again, every worker is alive and counting on, and the queue lost or repeated no
// number. Then a second round trip.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { dumpReal, findProgram, httpGetJson, restoreReal, startReal, tcpConnectionsHeld, waitReady, waitUntil, type RealProgram } from '../helpers/real-program.js';
import { toolSkip } from '../helpers/required-tool.js';

const JAVA = findProgram('/usr/lib/jvm/java-17-openjdk-amd64/bin/java', '/usr/lib/jvm/java-17-openjdk-arm64/bin/java', '/usr/lib/jvm/java-17-openjdk-ppc64el/bin/java', '/usr/lib/jvm/java-17-openjdk-s390x/bin/java');
const skip = toolSkip('OpenJDK 17', JAVA !== undefined, 'Debian package openjdk-17-jdk-headless');
const source = path.join(repoRoot, 'test', 'programs', 'real', 'HttpWorkers.java');
const WORKERS = ['consumer', 'producer', 'spinner', 'ticker'];

interface State { pid: number; produced: number; consumed: number; ticks: number; errors: number; alive: string[] }

const state = (port: number) => httpGetJson<State>(port, '/state');

function checkState(s: State): void {
  assert.equal(s.errors, 0, 'the queue lost or repeated no number');
  assert.deepEqual([...s.alive].sort(), WORKERS);
  assert.ok(s.produced >= s.consumed && s.produced <= s.consumed + 64 + 1, `produced ${s.produced}, consumed ${s.consumed}`);
}

let prog: RealProgram | undefined;
after(() => prog?.cleanup());

test('a JVM (OpenJDK 17) HTTP server with busy worker threads answers and counts on after restore, twice', { timeout: 300_000, skip }, async (t) => {
  // A small heap, the serial collector and a fixed number of compiler threads: fewer pages and
  // threads to move, and no thread started or ended by the JVM on its own between count and dump.
  const p = (prog = startReal('jvm', [JAVA!, '-XX:+UseSerialGC', '-Xmx64m', '-XX:TieredStopAtLevel=1', '-XX:-UseDynamicNumberOfCompilerThreads', source, 'out.txt']));
  const ready = await waitReady(p, 'the JVM', 60_000);
  const port = Number(/port=(\d+)/.exec(ready)![1]);
  const b = await waitUntil('every worker to have counted', 10_000, async () => {
    const s = await state(port);
    return s.ticks > 2 && s.consumed > 2 ? s : undefined;
  });
  assert.equal(b.pid, p.pid);
  checkState(b);
  await waitUntil('the server to close its client connections', 10_000, () => (tcpConnectionsHeld(p.pid).length === 0 ? true : undefined));
  assert.ok(p.threads().length > 10, `a JVM runs many threads (${p.threads().length})`);

  let last = b;
  for (const round of [1, 2]) {
    const images = await dumpReal(p);
    await restoreReal(p, images);
    const c = await state(port);
    assert.equal(c.pid, p.pid);
    assert.ok(c.produced >= last.produced && c.consumed >= last.consumed && c.ticks >= last.ticks, `counters kept: ${JSON.stringify(c)} after restore ${round}, ${JSON.stringify(last)} before`);
    last = await waitUntil(`every worker to count on after restore ${round}`, 20_000, async () => {
      const s = await state(port);
      return s.ticks > c.ticks + 2 && s.produced > c.produced + 5 && s.consumed > c.consumed + 5 ? s : undefined;
    });
    checkState(last);
    t.diagnostic(`after restore ${round}: ${JSON.stringify(last)} (${p.threads().length} threads)`);
    await waitUntil('the server to close its client connections', 10_000, () => (tcpConnectionsHeld(p.pid).length === 0 ? true : undefined));
  }
  p.stop(20_000);
});
