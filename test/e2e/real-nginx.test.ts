// A real server tree: Debian's nginx, a master (root) and two workers (nobody), each worker with
// its epoll loop on the listening socket they share, channels (socketpairs) to the master and a
// shared memory zone. A file is served over HTTP, the tree is dumped (all three processes
// vanish) and restored with the same PIDs; the file is served again, a file written after the
// restore too, and SIGHUP to the restored master reloads: two new workers replace the old ones
// and serve.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { kill } from '../../src/sys/index.js';
import { dumpReal, findProgram, freePort, restoreReal, startReal, tcpConnectionsHeld, tcpExchange, waitUntil, waitVanished, type RealProgram } from '../helpers/real-program.js';
import { toolSkip } from '../helpers/required-tool.js';
import { nginxPrefix } from '../helpers/real-setups.js';

const NGINX = findProgram('/usr/sbin/nginx');
const skip = toolSkip('nginx', NGINX !== undefined, 'Debian package nginx');

/** GET `file` over HTTP/1.0 (the server closes): status code and body. */
async function get(port: number, file: string): Promise<{ status: number; body: string }> {
  const text = await tcpExchange(port, `GET /${file} HTTP/1.0\r\nHost: localhost\r\n\r\n`);
  const status = Number(/^HTTP\/1\.\d (\d+)/.exec(text)?.[1] ?? 0);
  return { status, body: text.slice(text.indexOf('\r\n\r\n') + 4) };
}

/** The master's children (its workers), in no order. */
function workers(master: number): number[] {
  try {
    return readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number).sort();
  } catch {
    return [];
  }
}

let prog: RealProgram | undefined;
let conf: string | undefined;
after(() => {
  if (prog) for (const w of workers(prog.pid)) try { kill(w, 9); } catch { /* gone */ }
  prog?.cleanup();
  if (conf) rmSync(conf, { recursive: true, force: true });
});

test('nginx, a master and two workers: serves a file before and after restore, reloads on SIGHUP', { timeout: 90_000, skip }, async () => {
  const port = await freePort();
  let token: string;
  ({ conf, token } = nginxPrefix(port));
  const p = (prog = startReal('nginx', [NGINX!, '-c', path.join(conf, 'nginx.conf'), '-p', conf]));
  await waitUntil('nginx to serve index.html', 10_000, async () => ((await get(port, 'index.html')).status === 200 ? true : undefined));
  const before = await waitUntil('two workers', 10_000, () => (workers(p.pid).length === 2 ? workers(p.pid) : undefined));
  assert.deepEqual(await get(port, 'index.html'), { status: 200, body: token });
  await waitUntil('nginx to close its client connections', 5000, () => ([p.pid, ...before].every((w) => tcpConnectionsHeld(w).length === 0) ? true : undefined));

  const threads = p.threads().length;
  const images = await dumpReal(p);
  for (const w of before) assert.ok(waitVanished(w), `worker ${w} is gone after the dump`);
  await restoreReal(p, images, threads);
  assert.deepEqual(workers(p.pid), before, 'the same workers, with their PIDs');

  // The file served before, and one written after the restore, by the restored workers.
  assert.deepEqual(await get(port, 'index.html'), { status: 200, body: token });
  writeFileSync(path.join(conf, 'www', 'after.html'), 'written after the restore\n', { mode: 0o644 });
  const many = await Promise.all(Array.from({ length: 6 }, () => get(port, 'after.html')));
  assert.ok(many.every((r) => r.status === 200 && r.body === 'written after the restore\n'), JSON.stringify(many));
  assert.equal((await get(port, 'missing.html')).status, 404);

  // SIGHUP: the restored master reads its configuration again and starts two new workers.
  kill(p.pid, 1);
  const reloaded = await waitUntil('two new workers after SIGHUP', 15_000, () => {
    const now = workers(p.pid);
    return now.length === 2 && now.every((w) => !before.includes(w)) ? now : undefined;
  });
  assert.equal(reloaded.length, 2);
  assert.deepEqual(await get(port, 'index.html'), { status: 200, body: token });
  assert.ok(existsSync(path.join(conf, 'error.log')));
  assert.match(readFileSync(path.join(conf, 'error.log'), 'utf8'), /reconfiguring/);
  p.stop(10_000);
});
