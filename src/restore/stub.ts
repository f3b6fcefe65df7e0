// The point of no return: the blank stub process that becomes the task.
//
// It is started with clone3(set_tid = the dumped PID) and PTRACE_TRACEME, so it
// stops at its first instruction after execve, before any of its code runs,
// and PTRACE_O_EXITKILL then ties its life to cryo's. From here on every
// failure goes through `kill`, which leaves no process behind.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ptrace, spawn, waitForStop, waitpid, kill, SysError, stopSig, PTRACE_O_EXITKILL, PTRACE_O_TRACESYSGOOD, PTRACE_O_SUSPEND_SECCOMP, __WALL, stopped,
} from '../sys/index.js';
import { pidTakenError } from './pid-free.js';
import { RestoreError } from '../shared/restore-error.js';
import { SIGKILL, SIGTRAP } from '../sys/signals.js';


/** build/cryo-stub of this package (built by scripts/build-native.mjs). */
export function stubPath(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'build', 'cryo-stub');
    if (path.dirname(dir) === dir) return path.resolve('build', 'cryo-stub');
  }
}

export interface Stub {
  readonly pid: number;
  /** Kills and reaps the stub and its threads (idempotent); never throws. */
  kill(): void;
  /** Records a thread cryo created in it (traced by cryo: `kill` must reap it too). */
  adopt(tid: number): void;
}

/**
 * The handle of a process cryo traces during a restore (the stub, or a process of the tree made
 * from it): `kill` kills it and collects it as its tracer (a process that is not cryo's child then
 * goes to its parent, which is killed too, or to the reaper).
 */
export function tracedProcess(got: number): Stub {
  let dead = false;
  const threads: number[] = [];
  return {
    pid: got,
    adopt(tid) {
      threads.push(tid);
    },
    kill() {
      if (dead) return;
      dead = true;
      try { kill(got, SIGKILL); } catch { /* already gone */ }
      // Traced threads stay zombies until their tracer collects them; the main thread's death is
      // reported only after theirs.
      for (const tid of threads) {
        try {
          while (stopped(waitpid(tid, __WALL).status)) { /* a stop reported before the kill */ }
        } catch { /* reaped */ }
      }
      for (;;) {
        try {
          const r = waitpid(got, __WALL);
          if (r.pid === got && !stopped(r.status)) return; // exited or killed (not a stop)
        } catch {
          return; // ECHILD: reaped
        }
      }
    },
  };
}

/** Starts the stub as PID `pid`, traced and stopped. The caller owns it from here. */
export function startStub(pid: number): Stub {
  const file = stubPath();
  if (!existsSync(file)) {
    throw new RestoreError('FAILED', `cryo's restore stub is missing (${file}): run \`node scripts/build-native.mjs\``);
  }
  let got: number;
  try {
    got = spawn({ path: file, argv: ['cryo-stub'], env: [], setTid: [pid], traceMe: true, keepFds: [], cwd: '/' });
  } catch (e) {
    if (e instanceof SysError && e.code === 'EEXIST') {
      throw pidTakenError(pid, 'prepared the restore');
    }
    throw new RestoreError('FAILED', `cannot start the restore stub as PID ${pid}: ${(e as Error).message}`, { cause: e });
  }
  const stub = tracedProcess(got);
  try {
    const st = waitForStop(got, { timeoutMs: 10_000 }).status;
    if (stopSig(st) !== SIGTRAP) throw new Error(`the stub stopped with signal ${stopSig(st)} instead of SIGTRAP after execve`);
    try {
      // Seccomp filters restored into the task must not stop cryo's own injected calls.
      ptrace.setOptions(got, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_SUSPEND_SECCOMP);
    } catch {
      ptrace.setOptions(got, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD);
    }
  } catch (e) {
    stub.kill();
    throw new RestoreError('FAILED', `the restore stub (PID ${got}) did not stop under cryo's control: ${(e as Error).message}`, { cause: e });
  }
  return stub;
}
