// A process's System V semaphore undo values (what semop with SEM_UNDO will undo when it exits).
// Nothing shows them (not /proc, not semctl; CRIU drops them), so the dump makes the frozen process
// apply them: unshare(CLONE_SYSVSEM) detaches its undo list as exit would, and the semaphores' values
// before and after tell each adjustment. The process then takes the same undo values back at once
// (sem-undo-ops.ts): its semaphores and its undo list are as they were, whatever the dump does next.
// Only single-threaded processes are looked at: making a thread gives a process an empty undo list
// (shared with the thread), which kcmp cannot tell from a list with values.
import { KCMP_SYSVSEM, __WALL, errnoName, kcmp, kill, processVmWritev, spawn, waitpid } from '../sys/index.js';
import { rawSyscall } from '../sys/raw.js';
import { guardPid } from '../sys/guardian.js';
import { DumpError } from '../shared/dump-error.js';
import { GETNCNT, GETZCNT, listIpc, semValues } from '../shared/sysv-ipc.js';
import { SEMBUF_SIZE, undoOps } from '../shared/sem-undo-ops.js';
import type { SemUndo } from '../images/cryo-sem-undo.js';
import type { Injector, Scratch } from '../inject/index.js';

const CLONE_SYSVSEM = 0x40000;

/**
 * The single-threaded processes among `procs` (frozen, with every thread: freezeTree) that have an
 * undo list: kcmp against a process that has none (the dump's guard, or a fresh process made for it).
 */
export function semUndoHolders(procs: readonly { pid: number; tids: readonly number[] }[]): Set<number> {
  const single = procs.filter((p) => p.tids.length === 1).map((p) => p.pid);
  const out = new Set<number>();
  if (single.length === 0) return out;
  const guard = guardPid();
  const none = guard ?? spawn({ path: '/bin/true', stopBeforeExec: true, keepFds: [] });
  try {
    for (const pid of single) if (kcmp(none, pid, KCMP_SYSVSEM) !== 0) out.add(pid);
  } finally {
    if (guard === undefined) {
      kill(none, 9);
      waitpid(none, __WALL);
    }
  }
  return out;
}

function values(id: number, nsems: number): number[] | undefined {
  try {
    return semValues(id, nsems);
  } catch {
    return undefined; // removed meanwhile
  }
}

/** Gives the frozen process its undo values `list` (through `inj`, the sembufs in its scratch area). */
function takeBack(pid: number, inj: Injector, scratch: Scratch, list: readonly SemUndo[]): void {
  for (const u of list) {
    // The exit unshare() stood for is undone: the semaphores go back as they were.
    const ops = undoOps(u.semadj, false);
    if (ops.length > scratch.size) throw new DumpError('FAILED', `process ${pid}: ${ops.length / SEMBUF_SIZE} semaphore operations do not fit cryo's scratch area`);
    processVmWritev(pid, scratch.addr, ops);
    const r = inj.raw('semtimedop', u.semid, scratch.addr, ops.length / SEMBUF_SIZE, 0);
    if (r < 0n) {
      throw new DumpError('FAILED', `${errnoName(Number(-r))} from semop giving process ${pid} back its undo values for semaphore set ${u.semid} (${u.semadj.join(' ')}): they are lost; its semaphores are as on exit`);
    }
  }
}

/** The first semaphore someone waits on (semop blocked for it to rise or reach zero), if any. */
function waitedOn(sets: readonly { id: number; nsems: number }[]): { id: number; num: number } | undefined {
  for (const s of sets) {
    for (let num = 0; num < s.nsems; num++) {
      try {
        if (rawSyscall('semctl', s.id, num, GETNCNT) > 0n || rawSyscall('semctl', s.id, num, GETZCNT) > 0n) return { id: s.id, num };
      } catch {
        break; // removed meanwhile
      }
    }
  }
  return undefined;
}

/** The undo values of frozen, single-threaded process `pid` (see the module comment). */
export function readSemUndo(pid: number, inj: Injector, scratch: Scratch): SemUndo[] {
  const sets = listIpc('sem').map((o) => ({ id: o.id, nsems: o.row.nsems! }));
  // Applying the undo values could wake a waiter, who would take what the process holds before
  // cryo gives it back: refused instead, while nothing has changed.
  const waited = waitedOn(sets);
  if (waited) {
    throw new DumpError('BUSY', `process ${pid} has semaphore undo values (SEM_UNDO) and a process waits on semaphore ${waited.num} of set ${waited.id}: cryo reads undo values only while no one waits; dump again when the set is idle`);
  }
  const before = sets.map((s) => values(s.id, s.nsems));
  const r = inj.raw('unshare', CLONE_SYSVSEM);
  if (r < 0n) throw new DumpError('FAILED', `${errnoName(Number(-r))} from unshare(CLONE_SYSVSEM) reading the semaphore undo values of process ${pid}`);
  const out: SemUndo[] = [];
  sets.forEach((s, i) => {
    const a = before[i];
    const b = values(s.id, s.nsems);
    if (!a || !b) return;
    const semadj = b.map((v, j) => v - a[j]!);
    if (semadj.some((v) => v !== 0)) out.push({ pid, semid: s.id, semadj });
  });
  takeBack(pid, inj, scratch, out);
  // Another process's semop in between would make the differences wrong: seen, not guessed.
  sets.forEach((s, i) => {
    const a = before[i];
    const c = values(s.id, s.nsems);
    if (a && c && c.some((v, j) => v !== a[j])) {
      throw new DumpError('BUSY', `semaphore set ${s.id} changed while cryo read the undo values of process ${pid} (another process used it): dump again when the set is idle`);
    }
  });
  return out;
}
