// A throw-away child for the probes that need another process (ptrace, pidfd, process_vm_*):
// a fork of this process that stopped itself before exec, seized and interrupted the way dump
// seizes a task. It is killed with SIGKILL and reaped by `release`, whatever happened.
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import {
  PTRACE_O_EXITKILL, WUNTRACED, __WALL, kill, ptrace, spawn, stopped, waitForStop, waitpid,
} from '../sys/index.js';

const SIGKILL = constants.signals.SIGKILL;
const TRUE = existsSync('/bin/true') ? '/bin/true' : '/usr/bin/true';

export interface ProbeChild {
  readonly pid: number;
  /** Whether PTRACE_SEIZE (with EXITKILL) and PTRACE_INTERRUPT worked; the error when not. */
  readonly traced: boolean;
  readonly traceError?: unknown;
}

/** Starts a stopped child (`setTid`: with that PID) and tries to seize it. */
export function startChild(setTid?: number): ProbeChild {
  const pid = spawn({ path: TRUE, stopBeforeExec: true, ...(setTid === undefined ? {} : { setTid: [setTid] }) });
  try {
    // Its own SIGSTOP first, so that the ptrace stops below are the only ones left to see.
    const st = waitpid(pid, WUNTRACED | __WALL);
    if (!stopped(st.status)) throw new Error(`probe child ${pid} ended before it stopped`);
  } catch (e) {
    release(pid);
    throw e;
  }
  try {
    ptrace.seize(pid, PTRACE_O_EXITKILL);
    ptrace.interrupt(pid);
    waitForStop(pid, { timeoutMs: 2000 });
    return { pid, traced: true };
  } catch (traceError) {
    return { pid, traced: false, traceError };
  }
}

/** Kills and reaps the child (a seized child dies with SIGKILL even while stopped). */
export function release(pid: number): void {
  try {
    kill(pid, SIGKILL);
  } catch {
    // already gone
  }
  for (;;) {
    try {
      const r = waitpid(pid, __WALL);
      if (r.pid === pid && !stopped(r.status)) return;
    } catch {
      return; // ECHILD: reaped
    }
  }
}
