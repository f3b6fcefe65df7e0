// The demo's own children: started with src/sys spawn (not child_process, whose SIGCHLD handling
// would consume ptrace stops), and always killed and reaped at the end.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { WNOHANG, __WALL, kill, sleepSync, spawn, waitpid } from '../sys/index.js';

const SIGKILL = constants.signals.SIGKILL;

export function startExample(bin: string, args: string[], cwd: string): number {
  return spawn({ path: bin, argv: [bin.split('/').pop()!, ...args], cwd });
}

/**
 * Reaps `pid` if it is an ended child of ours, waiting up to `timeoutMs` for it to end. True when
 * no such process is left: reaped, or not (or no longer) our child and absent from /proc.
 */
export function reapGone(pid: number, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = waitpid(pid, WNOHANG | __WALL);
      if (r.pid === pid) return !existsSync(`/proc/${pid}`) || reapGone(pid, Math.max(0, deadline - Date.now()));
    } catch {
      if (!existsSync(`/proc/${pid}`)) return true; // ECHILD: not ours, or reaped by someone else
    }
    if (Date.now() >= deadline) return false;
    sleepSync(10);
  }
}

/** SIGKILL and reap, whatever state it is in; quiet when it is already gone. */
export function killAndReap(pid: number): void {
  try {
    kill(pid, SIGKILL);
  } catch {
    // gone already
  }
  reapGone(pid, 2000);
}
