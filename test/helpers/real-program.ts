// Real programs (redis-server, node, python3) in the round trip: started detached in a session
// of their own (setsid; stdin /dev/null, stdout and stderr to a log file, cwd a scratch
// directory), talked to over loopback TCP, dumped with cryo until every thread is gone, restored
// detached, and stopped again with nothing left behind.
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dump, type DumpOptions } from '../../src/dump/index.js';
import { restore, type RestoreOptions } from '../../src/restore/index.js';
import { WNOHANG, __WALL, kill, sleepSync, spawn, waitpid } from '../../src/sys/index.js';
import { becomeSubreaper, nothingLeftBehind } from './restore-env.js';

export interface RealProgram {
  pid: number;
  /** Scratch directory: the program's cwd, its log, the images. */
  dir: string;
  log(): string;
  /** Threads (TIDs) it has now. */
  threads(): number[];
  /** SIGTERM, then SIGKILL after `graceMs`; reaps it and checks nothing of it is left. */
  stop(graceMs?: number): void;
  /** Kills it (whatever it is doing) and removes the directory; for `after` hooks. */
  cleanup(): void;
}

/** The first of `paths` that exists, or undefined. */
export function findProgram(...paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((ok, fail) => { srv.once('error', fail); srv.listen(0, '127.0.0.1', ok); });
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((ok) => srv.close(ok));
  return port;
}

function reap(pid: number): boolean {
  try {
    const r = waitpid(pid, WNOHANG | __WALL);
    return r.pid === pid;
  } catch {
    return !existsSync(`/proc/${pid}`);
  }
}

/** Waits until `pid` and its threads are gone (reaping it: it is our child or, restored, our orphan). */
export function waitVanished(pid: number, ms = 5000): boolean {
  const end = Date.now() + ms;
  for (;;) {
    reap(pid);
    if (!existsSync(`/proc/${pid}`)) return true;
    if (Date.now() > end) return false;
    sleepSync(20);
  }
}

/**
 * Starts `argv` as `setsid argv... </dev/null >log 2>&1` in a fresh directory, with `env` only
 * (plus PATH and HOME). The shell and setsid exec: the PID is the program's.
 */
export function startReal(name: string, argv: string[], env: Record<string, string> = {}): RealProgram {
  becomeSubreaper();
  const dir = mkdtempSync(path.join(tmpdir(), `cryo-real-${name}-`));
  const logFile = path.join(dir, 'log.txt');
  const pid = spawn({
    path: '/bin/sh',
    argv: ['sh', '-c', 'exec /usr/bin/setsid "$@" </dev/null >"$LOG" 2>&1', 'sh', ...argv],
    env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', LOG: logFile, ...env },
    keepFds: [],
    cwd: dir,
  });
  const log = () => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } };
  const threads = () => { try { return readdirSync(`/proc/${pid}/task`).map(Number); } catch { return []; } };
  return {
    pid,
    dir,
    log,
    threads,
    stop(graceMs = 5000) {
      try { kill(pid, 15); } catch { /* gone */ }
      if (!waitVanished(pid, graceMs)) {
        try { kill(pid, 9); } catch { /* gone */ }
        waitVanished(pid);
        throw new Error(`${name} (${pid}) did not end on SIGTERM within ${graceMs} ms; log: ${log().slice(-500)}`);
      }
      const left = nothingLeftBehind(pid);
      if (left) throw new Error(`after ${name} stopped: ${left}`);
    },
    cleanup() {
      try { kill(pid, 9); } catch { /* gone */ }
      waitVanished(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `test` (async) every 20 ms until it returns a value, or throws after `ms`. */
export async function waitUntil<T>(what: string, ms: number, test: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await test();
      if (v !== undefined) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
}

/** Waits for the program's READY line in DIR/out.txt and returns it. */
export function waitReady(p: RealProgram, what: string, ms: number): Promise<string> {
  return waitUntil(`READY from ${what}`, ms, () => {
    try {
      const line = readFileSync(path.join(p.dir, 'out.txt'), 'utf8');
      return line.startsWith('READY') ? line : undefined;
    } catch { return undefined; }
  });
}

/** GET `urlPath` over a new connection to 127.0.0.1:port, as any HTTP client would; its JSON body. */
export async function httpGetJson<T>(port: number, urlPath: string): Promise<T> {
  const reply = await tcpExchange(port, `GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`, 10_000);
  if (!reply.startsWith('HTTP/1.1 200 OK\r\n')) throw new Error(`GET ${urlPath}: ${reply.slice(0, 80)}`);
  return JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as T;
}

/** Sends `payload` over a new TCP connection to 127.0.0.1:port and returns all it got until the peer closed. */
export function tcpExchange(port: number, payload: string | Buffer = '', timeoutMs = 5000): Promise<string> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); fail(new Error(`no answer from 127.0.0.1:${port} within ${timeoutMs} ms`)); }, timeoutMs);
    sock.on('connect', () => { if (payload.length) sock.write(payload); });
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => { clearTimeout(timer); fail(e); });
    sock.on('close', () => { clearTimeout(timer); ok(Buffer.concat(chunks).toString('utf8')); });
  });
}

/** Socket inodes `pid` holds that are TCP connections (not listeners): none once its clients are closed. */
export function tcpConnectionsHeld(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSafe(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch { /* closed meanwhile */ }
  }
  const held: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try { text = readFileSync(table, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const state = f[3]!;
      const inode = f[9]!;
      if (inodes.has(inode) && state !== '0A') held.push(`${f[1]}->${f[2]} state ${state}`);
    }
  }
  return held;
}

function readlinkSafe(p: string): string {
  try { return readlinkSync(p); } catch { return ''; }
}

/** Dumps the program with cryo into a new directory (images-1, images-2, ...) and waits until every one of its threads is gone. */
export async function dumpReal(p: RealProgram, opts: Partial<DumpOptions> = {}): Promise<string> {
  let n = 1;
  while (existsSync(path.join(p.dir, `images-${n}`))) n++;
  const images = path.join(p.dir, `images-${n}`);
  const tids = p.threads();
  await dump({ ...opts, pid: p.pid, dir: images });
  if (!waitVanished(p.pid)) throw new Error(`dumped program ${p.pid} is still there`);
  const left = tids.filter((t) => existsSync(`/proc/${t}`));
  if (left.length) throw new Error(`threads ${left.join(', ')} of the dumped program are still there`);
  return images;
}

/**
 * Restores the dump detached; the restored program must have its PID and as many threads as before
 * ('any': a server that starts threads as it runs, which it may do at once).
 */
export async function restoreReal(p: RealProgram, images: string, threadsBefore?: number | 'any', opts: Partial<RestoreOptions> = {}): Promise<void> {
  const r = await restore({ ...opts, dir: images, detach: true });
  if (r.pid !== p.pid) throw new Error(`restored as PID ${r.pid}, dumped as ${p.pid}`);
  if (threadsBefore === 'any') return;
  // By default the threads the dump saw (a core image each): runtimes start threads of their own as they need them.
  const want = threadsBefore ?? readdirSync(images).filter((f) => /^core-\d+\.img$/.test(f)).length;
  const now = p.threads().length;
  if (now !== want) throw new Error(`restored with ${now} threads, dumped with ${want}`);
}
