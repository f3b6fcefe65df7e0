// Starting a test program that writes "READY k=v ..." to an output file, and ending it again.
// The target is started with src/sys spawn (not child_process), so Node's own SIGCHLD handling
// never reaps it or swallows the ptrace stops of a test that traces it.
import { chownSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { constants } from 'node:os';
import { programsBinDir } from './paths.js';
import { __WALL, WNOHANG, kill, sleepSync, spawn, waitpid, exited, exitCode, signaled, termSig } from '../../src/sys/index.js';

export interface Target {
  pid: number;
  /** A scratch directory of its own (files it made, the output file). */
  dir: string;
  outFile: string;
  /** The READY line's key=value pairs. */
  ready: Record<string, string>;
  /** Everything the program wrote so far. */
  output(): string;
  /** Sends SIGTERM (or `signal`) and waits for "PASS"/"FAIL..." (the program checks its state) and its exit. */
  finish(timeoutMs?: number, signal?: number): string;
  /** Kills and reaps it (idempotent); removes the directory. */
  cleanup(): void;
}

/** util-linux's setpriv, which runs a program as another user (tests of rootless use). */
export const SETPRIV = '/usr/bin/setpriv';

/** setpriv's arguments for uid and gid `uid` with no supplementary groups. */
export function asUserArgs(uid: number): string[] {
  return [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];
}

function waitFor(what: string, timeoutMs: number, test: () => boolean): void {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    sleepSync(5);
  }
}

/**
 * Waits (up to `ms`) until `pid` sleeps in a system call, where a signal interrupts the call. A task
 * just restored may resume at the start of a call it was dumped in (pause, say: the call is
 * restarted, as CRIU restores it too); a signal handled before the task got there would set the
 * program's flag, and the restarted pause would then wait for another signal forever.
 */
export function waitAsleep(pid: number, ms = 2000): void {
  const asleep = () => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const state = stat[stat.lastIndexOf(')') + 2];
      // Running, or asleep outside a call (a fault): not there yet. Stopped or ended: nothing to wait for.
      if (state === 'R' || state === 'D') return false;
      return state !== 'S' || /^\d+ /.test(readFileSync(`/proc/${pid}/syscall`, 'utf8'));
    } catch {
      return true; // gone: the caller finds out
    }
  };
  const deadline = Date.now() + ms;
  while (!asleep() && Date.now() < deadline) sleepSync(2);
}

/** `pid` and every process below it, parents first (read before any is killed: an orphan leaves the tree). */
function treeOf(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      children = children.concat(readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    }
  } catch { /* gone */ }
  return [pid, ...children.flatMap(treeOf)];
}

/**
 * SIGKILLs `pid` and its descendants: a program that stopped its children (rt-stopped) or left them
 * waiting for a SIGTERM it never passed on would otherwise leave them behind when a test fails early.
 */
export function killTree(pid: number): void {
  for (const p of treeOf(pid)) {
    try { kill(p, constants.signals.SIGKILL); } catch { /* gone */ }
  }
}

/**
 * `opts.dirArg`: the directory as the program is told it (a symbolic link to it, say). `opts.asUser`:
 * a uid (and gid) to run it as, with no supplementary groups (through setpriv; the directory is theirs).
 */
export function startTarget(name: string, args: string[] = [], opts: { dirArg?: (dir: string) => string; asUser?: number } = {}): Target {
  const dir = mkdtempSync(path.join(tmpdir(), `cryo-${name}-`));
  const outFile = path.join(dir, 'out.txt');
  const prog = path.join(programsBinDir, name);
  const argv = [name, outFile, opts.dirArg?.(dir) ?? dir, ...args];
  if (opts.asUser !== undefined) chownSync(dir, opts.asUser, opts.asUser);
  const pid = opts.asUser === undefined
    ? spawn({ path: prog, argv, keepFds: [0, 1, 2] })
    : spawn({ path: SETPRIV, argv: ['setpriv', ...asUserArgs(opts.asUser), prog, ...argv.slice(1)], keepFds: [0, 1, 2] });
  let reaped = false;
  const output = () => {
    try {
      return readFileSync(outFile, 'utf8');
    } catch {
      return '';
    }
  };
  const reap = (timeoutMs: number): number | undefined => {
    let status: number | undefined;
    waitFor(`task ${pid} to end`, timeoutMs, () => {
      const r = waitpid(pid, WNOHANG | __WALL);
      if (r.pid === pid && (exited(r.status) || signaled(r.status))) {
        status = r.status;
        return true;
      }
      return false;
    });
    reaped = true;
    return status;
  };
  try {
    // Deadlines are generous: a loaded machine may be slow; a passing test never waits for them.
    waitFor(`READY from ${name}`, 60_000, () => /READY|FAIL/.test(output()));
  } catch (e) {
    try { killTree(pid); reap(2000); } catch { /* gone */ }
    throw e;
  }
  const line = output().split('\n')[0]!;
  if (!line.startsWith('READY')) {
    try { killTree(pid); reap(2000); } catch { /* gone */ }
    throw new Error(`${name} failed to start: ${line}`);
  }
  const ready = Object.fromEntries(line.split(' ').slice(1).map((kv) => kv.split('=') as [string, string]));
  return {
    pid,
    dir,
    outFile,
    ready,
    output,
    finish(timeoutMs = 60_000, signal = constants.signals.SIGTERM) {
      waitAsleep(pid);
      kill(pid, signal);
      const st = reap(timeoutMs);
      const text = output().split('\n').slice(1).join('\n').trim();
      if (st !== undefined && signaled(st)) return `${text} (killed by signal ${termSig(st)})`.trim();
      if (st !== undefined && exited(st) && exitCode(st) !== 0) return `${text} (exit ${exitCode(st)})`.trim();
      return text;
    },
    cleanup() {
      if (!reaped) {
        killTree(pid);
        try { reap(3000); } catch { /* not ours any more */ }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}


/**
 * Reaps `pid` (a child of this process) as soon as it ends, polling from the event loop while a
 * cryo child process dumps it: its zombie would hold the PID against a restore that follows at
 * once. Stops after that one reap (the restored task is left to finish()); the returned function stops it too.
 */
export function reapWhenEnded(pid: number): () => void {
  const timer = setInterval(() => {
    try {
      if (waitpid(pid, WNOHANG | __WALL).pid === pid) clearInterval(timer);
    } catch { clearInterval(timer); }
  }, 1);
  return () => clearInterval(timer);
}
