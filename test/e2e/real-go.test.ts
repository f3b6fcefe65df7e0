// A real program: test/programs/real/go-http/main.go, built by Debian's golang-go, serves HTTP
// (net/http on the Go runtime's epoll netpoller) while goroutines are busy during the dump (a
// producer and a consumer passing numbers through a channel, a ticker, a spinner). It is dumped
// with no client connected, every thread is gone, and it is restored: a real HTTP client gets
// answers again, every goroutine counts on, and the channel lost or repeated no number. Twice.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { dumpReal, findProgram, httpGetJson, restoreReal, startReal, tcpConnectionsHeld, waitReady, waitUntil, type RealProgram } from '../helpers/real-program.js';
import { toolSkip } from '../helpers/required-tool.js';

const GO = findProgram('/usr/bin/go', '/usr/lib/go/bin/go');
const skip = toolSkip('go', GO !== undefined, 'Debian package golang-go');
const source = path.join(repoRoot, 'test', 'programs', 'real', 'go-http', 'main.go');

interface State { pid: number; produced: number; consumed: number; ticks: number; spins: number; errors: number; goroutines: number }

let prog: RealProgram | undefined;

/** The server's /state; a failure says whether the server lives, and its log the cause (a panic, a fatal error, a signal). */
async function state(port: number): Promise<State> {
  try {
    return await httpGetJson<State>(port, '/state');
  } catch (e) {
    const alive = prog !== undefined && existsSync(`/proc/${prog.pid}`);
    throw new Error(`GET /state: ${(e as Error).message}; the server is ${alive ? `alive (${prog!.threads().length} threads)` : 'gone'}; its log: ${logCause(prog?.log() ?? '')}`);
  }
}

/** The Go runtime's own words on why it stopped (a panic or fatal error line and what follows), else the log's end. */
function logCause(log: string): string {
  const at = log.search(/^(panic|fatal error|runtime:|SIG[A-Z]+:)/m);
  return at >= 0 ? log.slice(at, at + 1200) : log.slice(-800);
}

function checkState(s: State): void {
  assert.equal(s.errors, 0, 'the channel lost or repeated no number');
  assert.ok(s.produced >= s.consumed && s.produced <= s.consumed + 64 + 1, `produced ${s.produced}, consumed ${s.consumed}`);
}

after(() => prog?.cleanup());

test('a Go HTTP server with busy goroutines answers and counts on after restore, twice', { timeout: 300_000, skip }, async (t) => {
  const build = path.join(repoRoot, 'test', 'programs', 'bin', 'go-build');
  mkdirSync(build, { recursive: true });
  const bin = path.join(build, 'go-http');
  const env = { PATH: '/usr/bin:/bin', HOME: build, GOCACHE: path.join(build, 'cache'), GOPATH: path.join(build, 'gopath'), GO111MODULE: 'off', GOFLAGS: '' };
  const r = spawnSync(GO!, ['build', '-o', bin, source], { env, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `go build: ${r.stderr}`);

  const p = (prog = startReal('go', [bin, 'out.txt']));
  const ready = await waitReady(p, 'the Go program', 20_000);
  const port = Number(/port=(\d+)/.exec(ready)![1]);
  let last = await waitUntil('every goroutine to have counted', 10_000, async () => {
    const s = await state(port);
    return s.ticks > 2 && s.consumed > 2 && s.spins > 2 ? s : undefined;
  });
  assert.equal(last.pid, p.pid);
  checkState(last);
  for (const round of [1, 2]) {
    await waitUntil('the server to close its client connections', 10_000, () => (tcpConnectionsHeld(p.pid).length === 0 ? true : undefined));
    const images = await dumpReal(p);
    await restoreReal(p, images);
    const c = await state(port);
    assert.equal(c.pid, p.pid);
    assert.ok(c.produced >= last.produced && c.consumed >= last.consumed && c.ticks >= last.ticks, `counters kept: ${JSON.stringify(c)} after restore ${round}, ${JSON.stringify(last)} before`);
    last = await waitUntil(`every goroutine to count on after restore ${round}`, 20_000, async () => {
      const s = await state(port);
      return s.ticks > c.ticks + 2 && s.produced > c.produced + 5 && s.consumed > c.consumed + 5 && s.spins > c.spins + 2 ? s : undefined;
    });
    checkState(last);
    t.diagnostic(`after restore ${round}: ${JSON.stringify(last)} (${p.threads().length} threads)`);
  }
  p.stop(20_000);
});
