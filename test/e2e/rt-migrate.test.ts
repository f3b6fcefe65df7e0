// Live migration of a TCP server with a connected client, as a user runs it (README "Migration"):
// test/programs/rt-migrate.c serves an echo protocol in network namespace A (a veth pair to the
// root namespace, where this test is its client and keeps talking: every line must come back, in
// order). The steps: `cryo pre-dump --tcp-established` in A while it serves, `cryo dump
// --prev-images-dir ../pre --tcp-established` (the server ends; its connection closes silently in
// TCP repair), the veth end with the server's address moved to namespace B (down), `cryo restore
// --tcp-established` in B, the link up. The client never sees an error and its lines go on being
// echoed; the program finds every line in order (a lost or repeated one fails it) and its memory
// right. An edited sequence number in the dump's tcp-stream image breaks the connection: the client
// sees it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { decodeImageFile, encodeImage } from '../../src/images/index.js';
import { __WALL, kill, waitpid } from '../../src/sys/index.js';
import { reapWhenEnded, startTarget, type Target } from '../helpers/dump-target.js';
import { becomeSubreaper, cleanedUpAfterFile, resealImages } from '../helpers/restore-env.js';
import { cryoAsync, cryoCli } from '../helpers/cryo-cli.js';

const { targets, cleanups } = cleanedUpAfterFile();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'pipe' });

/** `cryo ARGS` inside network namespace ns, without blocking this process's event loop (the client runs in it). */
function cryoIn(ns: string, args: string[]): Promise<{ ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    // nsenter, not `ip netns exec`: that also makes a mount namespace of its own, and cryo runs in the task's.
    const c = spawn('nsenter', [`--net=/var/run/netns/${ns}`, process.execPath, cryoCli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (status) => (status === 0 ? resolve({ ms: performance.now() - t0 }) : reject(new Error(`cryo ${args[0]} in ${ns}: ${err.trim()}`))));
  });
}

/** The client: sends "N\n", waits for it back, sends N+1 every 5 ms; remembers the first problem. */
class Client {
  n = 0;
  problem: string | undefined;
  /**
   * How long a line may wait for its echo. A line sent while the link is down waits out the whole
   * migration and TCP's retransmission backoff (retries double up to seconds apart): by default
   * this finds a dead connection only.
   */
  boundMs = 90_000;
  private stop = false;
  private readonly sock: net.Socket;
  private got = '';
  private waiting: (() => void) | undefined;
  readonly ended: Promise<void>;

  constructor(address: string, port: number) {
    this.sock = net.connect({ host: address, port });
    this.sock.on('data', (d: Buffer) => { this.got += d.toString(); this.waiting?.(); });
    this.sock.on('error', (e) => { this.problem ??= `socket error ${(e as NodeJS.ErrnoException).code ?? e.message}`; this.waiting?.(); });
    this.sock.on('close', () => { this.problem ??= 'connection closed'; this.waiting?.(); });
    this.ended = new Promise((resolve) => this.sock.once('connect', () => void this.loop().then(resolve)));
  }

  private async loop(): Promise<void> {
    while (!this.stop && this.problem === undefined) {
      const line = `${this.n + 1}\n`;
      this.sock.write(line);
      const sentAt = Date.now();
      while (!this.got.includes('\n') && this.problem === undefined) {
        if (Date.now() - sentAt > this.boundMs) { this.problem = `no echo of line ${this.n + 1} in ${this.boundMs / 1000} s`; return; }
        await new Promise<void>((r) => { this.waiting = r; setTimeout(r, 100); });
      }
      if (this.problem !== undefined) return;
      const echo = this.got.slice(0, this.got.indexOf('\n') + 1);
      this.got = this.got.slice(echo.length);
      if (echo !== line) { this.problem = `sent ${line.trim()}, got back ${echo.trim()}`; return; }
      this.n++;
      await sleep(5);
    }
  }

  async until(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.n < n && this.problem === undefined && Date.now() < deadline) await sleep(20);
  }

  async close(): Promise<void> {
    this.stop = true;
    await this.ended;
    this.sock.destroy();
  }
}

let seq = 0;
/** Namespaces A (the server's, joined to this one by a veth pair) and B, a server started in A, its client here talking. */
async function hosts(): Promise<{ client: Client; t: Target; nsA: string; nsB: string; veth: string; net3: number; addr: string }> {
  becomeSubreaper();
  const tag = `${process.pid % 10000}${seq++}`;
  const [nsA, nsB, veth] = [`cryo-mA${tag}`, `cryo-mB${tag}`, `cmg${tag}`];
  ip('netns', 'add', nsA);
  cleanups.push(() => ip('netns', 'del', nsA));
  ip('netns', 'add', nsB);
  cleanups.push(() => ip('netns', 'del', nsB));
  cleanups.push(() => { try { ip('link', 'del', `${veth}a`); } catch { /* went with a namespace */ } });
  const net3 = 20 + seq;
  ip('link', 'add', `${veth}a`, 'type', 'veth', 'peer', 'name', `${veth}b`, 'netns', nsA);
  ip('addr', 'add', `10.213.${net3}.1/30`, 'dev', `${veth}a`);
  ip('link', 'set', `${veth}a`, 'up');
  ip('-n', nsA, 'addr', 'add', `10.213.${net3}.2/30`, 'dev', `${veth}b`);
  ip('-n', nsA, 'link', 'set', `${veth}b`, 'up');
  const addr = `10.213.${net3}.2`;
  const port = 7000 + seq;
  const t = startTarget('rt-migrate', ['', `/var/run/netns/${nsA}`, addr, String(port)]);
  targets.push(t);
  const client = new Client(addr, port);
  cleanups.push(() => void client.close());
  await client.until(100, 20_000);
  assert.equal(client.problem, undefined);
  return { client, t, nsA, nsB, veth, net3, addr };
}

/** One migration from A to B, step by step; `edit` changes the final dump first. Returns the client and the restored target. */
async function migrate(edit?: (dir: string) => void): Promise<{ client: Client; t: Target; times: string }> {
  const { client, t, nsA, nsB, veth, net3 } = await hosts();
  const pre = path.join(t.dir, 'pre');
  const fin = path.join(t.dir, 'final');
  const p = await cryoIn(nsA, ['pre-dump', '-t', String(t.pid), '-D', pre, '--tcp-established']);
  await client.until(client.n + 100, 20_000);
  assert.equal(client.problem, undefined, 'the client talks on after the pre-dump');
  // The network lock (CRIU's iptables rules): the client's side of the link goes down, so nothing
  // the client sends meets A's stack once the server is gone there (it would answer with a reset).
  const t0 = performance.now();
  ip('link', 'set', `${veth}a`, 'down');
  const d = await cryoIn(nsA, ['dump', '-t', String(t.pid), '-D', fin, '--prev-images-dir', '../pre', '--tcp-established']);
  try { waitpid(t.pid, __WALL); } catch { /* reaped */ }
  const t1 = performance.now();
  edit?.(fin);
  // The server's address goes with its link to B (up, but without carrier until the lock is lifted:
  // its routes stay, which the restore's connect() in repair mode needs).
  ip('-n', nsA, 'link', 'set', `${veth}b`, 'netns', nsB);
  ip('-n', nsB, 'addr', 'add', `10.213.${net3}.2/30`, 'dev', `${veth}b`);
  ip('-n', nsB, 'link', 'set', 'lo', 'up');
  ip('-n', nsB, 'link', 'set', `${veth}b`, 'up');
  const r = await cryoIn(nsB, ['restore', '-D', fin, '-d', '--tcp-established']);
  ip('link', 'set', `${veth}a`, 'up');
  const t2 = performance.now();
  return { client, t, times: `pre-dump ${p.ms.toFixed(0)} ms; locked ${(t2 - t0).toFixed(0)} ms: dump ${d.ms.toFixed(0)} ms, move + restore ${(t2 - t1).toFixed(0)} ms (restore ${r.ms.toFixed(0)} ms)` };
}

/** Whether `ip netns` works here (outside CI a sandbox may lack it; CI must have it). */
function netnsWorks(): boolean {
  const ns = `cryo-mchk${process.pid}`;
  try {
    ip('netns', 'add', ns);
    ip('netns', 'del', ns);
    return true;
  } catch (e) {
    if (process.env.CI === 'true') throw e;
    return false;
  }
}

test('a TCP echo server migrates to another network namespace; its client talks on through it', async (tc) => {
  if (!netnsWorks()) { tc.skip('ip netns does not work here'); return; }
  const { client, t, times } = await migrate();
  const before = client.n;
  await client.until(before + 200, 60_000);
  assert.equal(client.problem, undefined, 'the client saw no problem');
  assert.ok(client.n >= before + 200, `lines echoed after the migration: ${client.n - before}`);
  await client.close();
  const n = client.n; // after close: a line in flight is counted
  const out = t.finish();
  console.log(`${times}; ${n} lines, ${n - before} after the restore`);
  assert.equal(out, `served=${n}\nPASS`);
});

test('an edited sequence number in the dump: the client sees the connection break', async (tc) => {
  if (!netnsWorks()) { tc.skip('ip netns does not work here'); return; }
  const { client, t } = await migrate((dir) => {
    const f = readdirSync(dir).find((x) => x.startsWith('tcp-stream-'))!;
    const img = decodeImageFile(path.join(dir, f));
    const v = img.entries[0]!.value as Record<string, unknown>;
    v.outq_seq = ((v.outq_seq as number) + 1000) >>> 0;
    writeFileSync(path.join(dir, f), encodeImage(img));
    resealImages(dir);
  });
  // The link is up again: a line still without its echo 15 s after it was sent is lost.
  client.boundMs = 15_000;
  await client.until(client.n + 200, 30_000);
  assert.notEqual(client.problem, undefined, 'the client noticed');
  console.log(`edited outq_seq: ${client.problem}`);
  await client.close();
  try { kill(t.pid, 9); } catch { /* gone */ }
});

/**
 * The same migration by `cryo migrate`: A and B also joined by a second veth pair, over which the
 * pre-dumps and the dump go to page servers in B; the lock, the move of the server's link and the
 * unlock are its action script's (CRIU's network-lock, post-dump, network-unlock).
 */
async function migrateCommand(opts: { pageServerAddress?: string; failFinalDump?: boolean; failUnlock?: boolean } = {}): Promise<{ client: Client; t: Target; code: number; out: string; err: string }> {
  const { client, t, nsA, nsB, veth, net3 } = await hosts();
  ip('-n', nsA, 'link', 'add', `${veth}m`, 'type', 'veth', 'peer', 'name', `${veth}n`, 'netns', nsB);
  ip('-n', nsA, 'addr', 'add', `10.214.${net3}.1/30`, 'dev', `${veth}m`);
  ip('-n', nsA, 'link', 'set', `${veth}m`, 'up');
  ip('-n', nsB, 'addr', 'add', `10.214.${net3}.2/30`, 'dev', `${veth}n`);
  ip('-n', nsB, 'link', 'set', `${veth}n`, 'up');
  const script = path.join(t.dir, 'action.sh');
  writeFileSync(script, [
    '#!/bin/sh -e',
    'case "$CRTOOLS_SCRIPT_ACTION" in',
    // failFinalDump: a file where the final dump's directory goes, so that it fails with the task untouched.
    `network-lock) ip link set ${veth}a down${opts.failFinalDump ? ` && : > ${path.join(t.dir, 'src', 'final')}` : ''} ;;`,
    `post-dump) ip -n ${nsA} link set ${veth}b netns ${nsB}; ip -n ${nsB} addr add 10.213.${net3}.2/30 dev ${veth}b; ip -n ${nsB} link set lo up; ip -n ${nsB} link set ${veth}b up ;;`,
    `network-unlock) ip link set ${veth}a up${opts.failUnlock ? '; exit 3' : ''} ;;`,
    'esac',
  ].join('\n') + '\n', { mode: 0o700 });
  const args = ['migrate', '-t', String(t.pid), '-D', path.join(t.dir, 'src'), '--dest-dir', path.join(t.dir, 'dst'),
    '--src-netns', `/var/run/netns/${nsA}`, '--dest-netns', `/var/run/netns/${nsB}`,
    '--address', opts.pageServerAddress ?? `10.214.${net3}.2`, '--port', String(7100 + seq), '--tcp-established', '--action-script', script];
  const stop = reapWhenEnded(t.pid);
  const r = await cryoAsync(args);
  stop();
  return { client, t, ...r };
}

test('cryo migrate: pre-dumps until they stop shrinking, the dump, the restore in B; the client talks on', async (tc) => {
  if (!netnsWorks()) { tc.skip('ip netns does not work here'); return; }
  const { client, t, code, out, err } = await migrateCommand();
  assert.equal(code, 0, err);
  console.log(out.trim());
  assert.match(out, /^cryo migrate: pre-dump 1: \d+ pages in \d+ ms\n/);
  assert.match(out, /\ncryo migrate: dump: \d+ pages in \d+ ms; task \d+ ended at the source\n/);
  assert.match(out, new RegExp(`\ncryo migrate: restored as PID ${t.pid} at the destination; frozen \\d+ ms`));
  const before = client.n;
  await client.until(before + 200, 60_000);
  assert.equal(client.problem, undefined, 'the client saw no problem');
  await client.close();
  assert.equal(t.finish(), `served=${client.n}\nPASS`);
});

test('cryo migrate to a page server that cannot listen fails in one line; the server runs on in A', async (tc) => {
  if (!netnsWorks()) { tc.skip('ip netns does not work here'); return; }
  const { client, t, code, err } = await migrateCommand({ pageServerAddress: '10.214.250.9' });
  assert.equal(code, 1);
  assert.match(err, /^cryo migrate: .*listen.*; task \d+ runs on at the source$/);
  const before = client.n;
  await client.until(before + 50, 60_000);
  assert.equal(client.problem, undefined, 'the client saw no problem');
  await client.close();
  assert.equal(t.finish(), `served=${client.n}\nPASS`);
});

test('cryo migrate whose network-unlock action fails after the restore says the task runs at the destination', async (tc) => {
  if (!netnsWorks()) { tc.skip('ip netns does not work here'); return; }
  const { client, t, code, err } = await migrateCommand({ failUnlock: true });
  assert.equal(code, 1);
  assert.match(err, new RegExp(`^cryo migrate: action script .* failed at network-unlock \\(exit 3\\); task ${t.pid} runs at the destination$`));
  const before = client.n;
  await client.until(before + 50, 60_000);
  assert.equal(client.problem, undefined, 'the client saw no problem');
  await client.close();
  assert.equal(t.finish(), `served=${client.n}\nPASS`);
});

test('cryo migrate whose final dump fails runs the network-unlock action: the server runs on in A and its client reaches it again', async (tc) => {
  if (!netnsWorks()) { tc.skip('ip netns does not work here'); return; }
  const { client, t, code, err } = await migrateCommand({ failFinalDump: true });
  assert.equal(code, 1);
  assert.match(err, /^cryo migrate: dump final: .*; task \d+ runs on at the source$/);
  const before = client.n;
  await client.until(before + 50, 60_000);
  assert.ok(client.n >= before + 50, `the client got ${client.n - before} more lines back, not 50`);
  assert.equal(client.problem, undefined, 'the client saw no problem');
  await client.close();
  assert.equal(t.finish(), `served=${client.n}\nPASS`);
});
