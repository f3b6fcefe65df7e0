// Whether a dumped PID can be given back: no process or thread has it, and no live process keeps it
// in use as its process group or session ID. Processes of the dumped tree that its dump killed may
// still be zombies for a moment (their reaper, often init, takes its time): waited for.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { RestoreError } from '../shared/restore-error.js';
import { sleepSync } from '../sys/index.js';

/** How long a zombie that holds a PID is waited for. */
const ZOMBIE_WAIT_MS = 3000;

interface Holder {
  text: string;
  zombie: boolean;
}

/** Who holds PID `pid` as its own PID or TID. */
function pidHolder(pid: number): Holder | undefined {
  // Most PIDs asked about are free: no exception for those (a thread's TID shows in /proc too).
  if (!existsSync(`/proc/${pid}`)) return undefined;
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim();
  const comm = field('Name') ?? '?';
  const tgid = Number(field('Tgid') ?? pid);
  const zombie = /^[ZX]/.test(field('State') ?? '');
  return { text: tgid === pid ? `'${comm}' (pid ${pid})` : `a thread of '${comm}' (pid ${tgid})`, zombie };
}

/**
 * A process in the process group or session `pid` led (a daemon the dumped process forked keeps
 * both unless it made its own): the kernel keeps that PID in use. Undefined when no group `pid`
 * exists (a session without a group of that ID is looked for only `always`: after clone3's EEXIST).
 */
function groupHolder(pid: number, always = false): Holder | undefined {
  try {
    // Node's kill: a free ID's ESRCH costs a third of rawSyscall's (a 100-thread task asks 100 times).
    process.kill(-pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH' && !always) return undefined;
  }
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let stat: string;
    try { stat = readFileSync(`/proc/${d}/stat`, 'utf8'); } catch { continue; }
    // pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
    const close = stat.lastIndexOf(')');
    const [state, , pgrp, session] = stat.slice(close + 2).split(' ');
    if (Number(pgrp) !== pid && Number(session) !== pid) continue;
    const what = Number(pgrp) === pid ? 'process group' : 'session';
    return { text: `'${stat.slice(stat.indexOf('(') + 1, close)}' (pid ${d}), in the ${what} of that ID`, zombie: state === 'Z' || state === 'X' };
  }
  return always ? undefined : { text: 'a process in the process group of that ID', zombie: false };
}

function inUseError(pid: number, h: Holder, own: boolean): RestoreError {
  if (h.zombie) return new RestoreError('PID_TAKEN', `PID ${pid} is still in use by ${h.text}, a zombie nobody reaped within ${ZOMBIE_WAIT_MS / 1000} s: have its parent reap it, or try again`);
  return new RestoreError('PID_TAKEN', own ? `PID ${pid} is taken by ${h.text}: stop it, or restore where PID ${pid} is free`
    : `PID ${pid} is still in use by ${h.text}, which the dumped process led: end it, or have it leave (setsid), to free the PID`);
}

/** The refusal for PID `pid` taken after the preflight (clone3's EEXIST) at `when`. */
export function pidTakenError(pid: number, when: string): RestoreError {
  const member = groupHolder(pid, true);
  return member === undefined ? new RestoreError('PID_TAKEN', `PID ${pid} was taken while cryo ${when}: try again`) : inUseError(pid, member, false);
}

/** Refuses PID `pid` unless restore can give it back (zombies holding it are waited for a moment). */
export function checkPidFree(pid: number): void {
  checkPidsFree([pid]);
}

/** checkPidFree for each of `pids` (a task's threads), pid_max read once. */
export function checkPidsFree(pids: readonly number[]): void {
  let max = 4194304;
  try { max = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')); } catch { /* keep the default */ }
  for (const pid of pids) {
    for (const deadline = Date.now() + ZOMBIE_WAIT_MS; ;) {
      const own = pidHolder(pid);
      const h = own ?? groupHolder(pid);
      if (h === undefined) break;
      if (!h.zombie || Date.now() > deadline) throw inUseError(pid, h, own !== undefined);
      sleepSync(20);
    }
    if (pid >= max) throw new RestoreError('PID_TAKEN', `PID ${pid} is above this system's pid_max (${max}): raise /proc/sys/kernel/pid_max`);
  }
}
