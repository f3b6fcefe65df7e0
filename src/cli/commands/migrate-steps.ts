// The steps `cryo migrate` strings together, each the command a user would run by hand: cryo's own
// command line as a child process (inside a network namespace through nsenter when one is named),
// and CRIU's action-script hooks around the freeze.
import { spawn } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile } from '../../images/index.js';
import { rawSyscall } from '../../sys/index.js';
import { TRACK_FILE } from '../../dump/track-method.js';

export class MigrateError extends Error {}

export interface Step {
  /** Resolves with its stdout when it exits 0; rejects with its last stderr line otherwise. */
  done: Promise<string>;
  kill(): void;
}

/** Runs `cryo ARGS` (in network namespace `netns`, a path such as /var/run/netns/B); `onLine` sees each stdout/stderr line as it comes. */
export function cryoStep(args: string[], netns: string | undefined, onLine?: (line: string, at: number) => void): Step {
  const self = [process.execPath, ...process.execArgv, process.argv[1]!];
  const argv = netns === undefined ? [...self, ...args] : ['nsenter', `--net=${netns}`, ...self, ...args];
  const c = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const lines = (d: Buffer, keep: (s: string) => void) => {
    const at = performance.now();
    const s = d.toString();
    keep(s);
    if (onLine) for (const l of s.split('\n')) if (l !== '') onLine(l, at);
  };
  c.stdout.on('data', (d: Buffer) => lines(d, (s) => { out += s; }));
  c.stderr.on('data', (d: Buffer) => lines(d, (s) => { err += s; }));
  const done = new Promise<string>((resolve, reject) => {
    c.on('error', (e) => reject(new MigrateError(`cannot run cryo ${args[0]}: ${e.message}`)));
    c.on('close', (code, sig) => {
      if (code === 0) { resolve(out); return; }
      const last = err.trim().split('\n').filter((l) => !l.startsWith('cryo: warning:')).pop() ?? `exit ${code ?? sig}`;
      reject(new MigrateError(last.replace(/^cryo( \S+)?: /, '')));
    });
  });
  return { done, kill: () => { try { c.kill('SIGKILL'); } catch { /* gone */ } } };
}

/** Runs `cryo ARGS` as cryoStep does; resolves once it says it is listening. */
export async function listening(args: string[], netns: string | undefined): Promise<Step> {
  let heard!: () => void;
  const ready = new Promise<void>((r) => { heard = r; });
  const s = cryoStep(args, netns, (l) => { if (/: listening/.test(l)) heard(); });
  await Promise.race([ready, s.done.then(() => { throw new MigrateError(`cryo ${args[0]} ended before it listened`); })]);
  return s;
}

/** A page server receiving one dump into `dir`; resolves once it listens. */
export function pageServer(dir: string, address: string, port: number, parent: string | undefined, netns: string | undefined): Promise<Step> {
  return listening(['page-server', '-D', dir, '--address', address, '--port', String(port), ...(parent ? ['--prev-images-dir', parent] : [])], netns);
}

/** How many pages a dump wrote (its stats-dump image). */
export function pagesWritten(dir: string): number {
  const st = decodeImageFile(path.join(dir, 'stats-dump')).entries[0]!.value as { dump: { pages_written: bigint } };
  return Number(st.dump.pages_written);
}

/** The final dump's images but its pages (which went to the page server) into the server's directory. */
export function completeServerDir(local: string, server: string): void {
  for (const n of readdirSync(local)) {
    if (n === 'parent' || n.startsWith('cryo-sent-') || n === TRACK_FILE) continue;
    copyFileSync(path.join(local, n), path.join(server, n));
  }
}

/** Runs CRIU's action script (CRTOOLS_SCRIPT_ACTION=action), if one was given. */
export function actionScript(script: string | undefined, action: string): Promise<void> {
  if (script === undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const c = spawn(script, [], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, CRTOOLS_SCRIPT_ACTION: action } });
    c.on('error', (e) => reject(new MigrateError(`action script ${script} (${action}): ${e.message}`)));
    c.on('close', (code) => (code === 0 ? resolve() : reject(new MigrateError(`action script ${script} failed at ${action} (exit ${code})`))));
  });
}

const CLONE_NEWNET = 0x40000000;

/** Moves this thread into the network namespace at `file`; returns a function that moves it back. */
export function enterNetns(file: string): () => void {
  const back = openSync('/proc/thread-self/ns/net', 'r');
  const fd = openSync(file, 'r');
  try {
    rawSyscall('setns', fd, CLONE_NEWNET);
  } catch (e) {
    closeSync(back);
    throw new MigrateError(`cannot enter network namespace ${file}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
  return () => {
    try { rawSyscall('setns', back, CLONE_NEWNET); } finally { closeSync(back); }
  };
}

/** Waits until `pid` is gone (its parent has reaped it), so the restore can take the PID again. */
export async function pidGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    try { closeSync(openSync(`/proc/${pid}/stat`, 'r')); } catch { return true; }
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
}
