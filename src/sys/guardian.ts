/**
 * The guardian of an operation's leftovers: SIGKILL ends cryo without any of its cleanup, so what a
 * dump or a restore makes outside itself (a half-restored process tree, a temporary mount, a
 * directory, a recreated file) is told as it is made to build/cryo-guard (native/guard.c), a small
 * child of cryo reading a pipe. cryo takes each back once it undid it itself, and ends the
 * operation with "nothing to undo"; when the pipe ends without that, cryo died, and the guard
 * kills the processes and undoes the rest, last made first.
 *
 * One operation at a time per process (as src/fault.ts). Without build/cryo-guard, or with
 * CRYO_GUARD=off (tests show with it what the guard prevents), nothing is guarded.
 */
import { closeSync, existsSync, lstatSync, readlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { buildDir } from './native.js';
import { rawSyscall } from './raw.js';
import { spawn } from './spawn.js';
import { waitpid, __WALL } from './wait.js';

const O_CLOEXEC = 0o2000000;

/** Undoes one record: cryo did the undoing itself. */
export type Taken = () => void;

interface Guard {
  pid: number;
  fd: number;
  records: number;
}

interface Active {
  guard?: Guard;
  failed: boolean;
}

let active: Active | undefined;

function startGuard(): Guard | undefined {
  const file = path.join(buildDir(), 'cryo-guard');
  if (!existsSync(file)) return undefined;
  const fds = new Int32Array(2);
  rawSyscall('pipe2', fds, O_CLOEXEC);
  const [rd, wr] = [fds[0]!, fds[1]!];
  try {
    const pid = spawn({ path: file, argv: ['cryo-guard', String(rd)], env: [], keepFds: [rd], cwd: '/' });
    return { pid, fd: wr, records: 0 };
  } catch {
    closeSync(wr);
    return undefined;
  } finally {
    closeSync(rd);
  }
}

function send(g: Guard, text: string): void {
  const b = Buffer.from(text);
  for (let off = 0; off < b.length;) off += writeSync(g.fd, b, off);
}

/**
 * Starts guarding the leftovers of one operation; `eager` starts the guard now (a restore: later,
 * its PID could be one the restored tree needs). Returns the end of the operation, after which
 * nothing it made is the guard's to undo.
 */
export function beginGuard(eager: boolean, env: NodeJS.ProcessEnv = process.env): () => void {
  const outer = active;
  const mine: Active = { failed: env.CRYO_GUARD === 'off' };
  active = mine;
  if (eager) guardOf(mine);
  return () => {
    active = outer;
    const g = mine.guard;
    if (!g) return;
    mine.guard = undefined;
    mine.failed = true;
    try { send(g, '.'); } catch { /* the guard is gone: nothing to tell it */ }
    closeSync(g.fd);
    try { waitpid(g.pid, __WALL); } catch { /* collected already */ }
  };
}

/**
 * Ends a guard an operation left running (a resident service between two commands) as cryo's exit
 * would: its pipe closed without '.', so the guard undoes what it was told. Nothing when none runs.
 */
export function abandonGuard(): void {
  const g = active?.guard;
  active = undefined;
  if (!g) return;
  closeSync(g.fd);
  try { waitpid(g.pid, __WALL); } catch { /* collected already */ }
}

function guardOf(a: Active): Guard | undefined {
  if (!a.guard && !a.failed) {
    try {
      a.guard = startGuard();
    } catch { /* no pipe: unguarded */ }
    a.failed = a.guard === undefined;
  }
  return a.guard;
}

/**
 * The PID of the running operation's guard, started now if need be; undefined when unguarded. A
 * fresh single-threaded program that never uses System V semaphores: it has no undo list.
 */
export function guardPid(): number | undefined {
  return active && guardOf(active)?.pid;
}

/** Tells the guard of the running operation one record (letter and fields); returns its undo. */
function record(kind: string, ...fields: (string | number | bigint)[]): Taken {
  const a = active;
  const g = a && guardOf(a);
  if (!g) return () => {};
  try {
    send(g, kind + fields.map((f) => `${f}\0`).join(''));
  } catch {
    return () => {};
  }
  const n = ++g.records;
  return () => {
    if (a.guard === g) {
      try { send(g, `r${n}\0`); } catch { /* the guard is gone */ }
    }
  };
}

/** A process that must not outlive a failed operation (killed through a pidfd taken now). */
export const guardProcess = (pid: number): Taken => record('k', pid);
/** A temporary mount point: unmounted and removed. */
export const guardMount = (dir: string): Taken => record('u', dir);
/** A directory made for the operation: removed (retried while it is busy). */
export const guardDir = (dir: string): Taken => record('d', dir);

/** A TCP socket of a dumped task (descriptor `fd` of `pid`) in repair mode: taken out of it. */
export const guardTcpRepair = (pid: number, fd: number): Taken => record('p', pid, fd);

/**
 * A TCP connection's network lock (an iptables rule `tool -I chain spec`, spec being
 * `-p tcp -s FROM --sport P -d TO --dport Q -j DROP`): deleted.
 */
export function guardNetLock(tool: string, chain: string, spec: readonly string[]): Taken {
  const at = (flag: string) => spec[spec.indexOf(flag) + 1]!;
  return record('n', tool, chain, at('-s'), at('--sport'), at('-d'), at('--dport'));
}

/** A System V object made for the operation: removed. */
export const guardIpc = (kind: 'shm' | 'sem' | 'msg', id: number): Taken => record('i', kind, id);

/** A file (or directory) made at `name` in the directory open as `dirfd`: removed while it is still that inode. */
export function guardFileAt(dirfd: number, name: string, st: { dev: number | bigint; ino: number | bigint }, dir: boolean): Taken {
  let full: string;
  try {
    full = path.join(readlinkSync(`/proc/self/fd/${dirfd}`), name);
  } catch {
    return () => {};
  }
  return record('f', full, st.dev, st.ino, dir ? 1 : 0);
}

/**
 * A file moved aside from `name` to `tmp`, both in the directory open as `dirfd` (a unix socket's
 * name parked for a bind): moved back while it is still that inode and the name is free again.
 * Told before the move (a kill between the two leaves nothing at `tmp` for the guard to move).
 */
export function guardMovedAt(dirfd: number, tmp: string, name: string, st: { dev: number | bigint; ino: number | bigint }): Taken {
  let dir: string;
  try {
    dir = readlinkSync(`/proc/self/fd/${dirfd}`);
  } catch {
    return () => {};
  }
  return record('m', path.join(dir, tmp), st.dev, st.ino, path.join(dir, name));
}

/** A directory of cryo's own image files (a stream's spool): its files and it removed while it is still that inode. */
export function guardSpool(dir: string): Taken {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  return st ? record('s', path.resolve(dir), st.dev, st.ino) : () => {};
}

/** A file cryo wrote at `file` (a temporary name): removed while it is still that inode. */
export function guardFile(file: string): Taken {
  const st = lstatSync(file, { throwIfNoEntry: false });
  return st ? record('f', path.resolve(file), st.dev, st.ino, st.isDirectory() ? 1 : 0) : () => {};
}
