/**
 * A copy-on-write snapshot of a frozen process's private memory, for a dump that leaves the task
 * running: its pages are written from the snapshot after the task runs again, so the task is frozen
 * for the copy of its page tables (1 GiB: ~20 ms) instead of the copy of its pages (~300 ms).
 *
 * fork() from the task would leave a zombie: a child with exit signal 0 that its tracer (cryo)
 * reaps becomes its real parent's zombie, and the task never reaps it. So, while the task is
 * frozen: the task clones C (CLONE_VM: no copy), C forks the snapshot S (the page tables copied,
 * every private page shared copy-on-write), C is killed, and the task reaps C by an injected
 * waitid. S, orphaned, belongs to the nearest child subreaper or init (which reap it when cryo ends
 * it); it is born stopped under cryo's ptrace and never runs a user instruction. PTRACE_O_EXITKILL,
 * set on C once it is stopped and inherited by S, takes them with a cryo that dies (never on the
 * task: a cryo killed in the clone's call would take the task too); C has no stack
 * (ptraced-clone.ts NO_STACK): neither may ever run the task's code.
 */
import type { Injector, UndoList } from '../inject/index.js';
import { P_PID, PTRACE_O_SUSPEND_SECCOMP, PTRACE_O_TRACESYSGOOD, WEXITED, __WALL } from '../sys/index.js';
import { CLONE_VM, collect, killClone, ptracedClone, separate, type PtracedClone } from './ptraced-clone.js';
import { readFileSync } from 'node:fs';
import type { DumpVma } from './vmas.js';
import { MADV_NOT_FORKED_BITS } from '../arch/mman.js';
import { USERFAULTFD_VM_FLAGS } from '../proc/index.js';
import { VMA } from '../shared/vma-kinds.js';

/** Below this much private memory the snapshot's set-up (~1 ms) costs more than the copy it saves. */
const MIN_BYTES = 16 << 20;
/** The end of the scratch area the snapshot's argument blocks use (old_mmap's six words). */
const ARG_AREA = 64;

export interface Snapshot {
  /** The snapshot process: the task's private memory as it was at the freeze. */
  readonly pid: number;
  readonly inj: Injector;
  /** Once the task runs again, before its pages are read: closes the descriptors it copied and leaves the task's session. */
  letGo(): void;
  /** Kills it without waiting: its memory goes while cryo writes the rest of the images. */
  kill(): void;
  /** Kills and collects it (idempotent). */
  end(): void;
}

/** RssAnon of /proc/PID/status (its raw lines), in bytes. */
export function anonBytes(status: Readonly<Record<string, string>>): number {
  return parseInt(status.RssAnon ?? '0', 10) * 1024;
}

/**
 * Why this process's pages cannot come from a snapshot (shown at -v), or undefined when they can.
 * `guards`: it has guard regions (guards.ts). `anonBytes`:
 * its RssAnon, the most a snapshot can come to cost (the task rewriting every page meanwhile):
 * it must fit into the machine's available memory and the task's memory cgroup twice over.
 */
export function whyNoSnapshot(pid: number, vmas: readonly DumpVma[], guards: boolean, anonBytes: number, childSubreaper: boolean): string | undefined {
  if (anonBytes < MIN_BYTES) return 'small';
  if (guards) return 'guard regions';
  // The snapshot would be orphaned to the task itself.
  if (childSubreaper) return 'child subreaper';
  for (const d of vmas) {
    if (d.vma.smaps === undefined) return 'no VmFlags';
    if ((d.status & (VMA.AIORING | VMA.IO_URING | VMA.SYSVIPC)) !== 0) return 'ring or System V mapping';
    if (((d.entry.madv as bigint | undefined ?? 0n) & MADV_NOT_FORKED_BITS) !== 0n) return 'VMA the fork does not copy';
    // A monitor with UFFD_FEATURE_EVENT_FORK would hear of the fork.
    if (d.vma.smaps.vmFlags.some((f) => USERFAULTFD_VM_FLAGS.includes(f))) return 'VMA registered with a userfaultfd';
  }
  if (roomFor(pid) < 2 * anonBytes) return 'memory';
  return undefined;
}

/** Bytes the task may still take: the machine's MemAvailable, or less in its cgroup v2 memory.max. */
function roomFor(pid: number): number {
  const avail = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
  let room = avail ? Number(avail[1]) * 1024 : 0;
  try {
    const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    if (line !== undefined) {
      const dir = `/sys/fs/cgroup${line.slice(3)}`;
      const max = readFileSync(`${dir}/memory.max`, 'utf8').trim();
      if (max !== 'max') room = Math.min(room, Number(max) - Number(readFileSync(`${dir}/memory.current`, 'utf8')));
    }
  } catch { /* no cgroup v2 memory controller there: the machine's room */ }
  return room;
}

/**
 * The snapshot of the process `task` drives (all its threads stopped). `scratch`: cryo's scratch
 * area in it, for waitid's result, and in the snapshot's copy for argument blocks (s390x's
 * old_mmap): its stack pointer is the one of the task's injected call, which may lie in cryo's
 * read-only call-ending area. Undefined where the kernel refuses a clone (the pages are then
 * written in the freeze); any other failure is thrown (the dump fails, the task runs on).
 */
export function takeSnapshot(task: Injector, undo: UndoList, seccomp: boolean, scratch: { addr: bigint; size: number }): Snapshot | undefined {
  const pid = task.pid;
  const options = PTRACE_O_TRACESYSGOOD | (seccomp ? PTRACE_O_SUSPEND_SECCOMP : 0);
  // Reaped after a failure too, by the dump's undo (which runs with fault injection off).
  let dropReap = (): void => {};
  const c = ptracedClone(task, CLONE_VM, options, (cPid) => { dropReap = undo.push(`reap cryo's clone ${cPid} in task ${pid}`, () => reapClone(task, cPid, scratch.addr)); });
  // The kernel's refusal (a cgroup's pids.max, no memory): the pages are then written in the freeze.
  if (c === undefined) return undefined;
  let s: PtracedClone | undefined;
  try {
    s = ptracedClone(c.inj, 0, options);
    reapClone(task, c.pid, scratch.addr);
    dropReap();
    if (s === undefined) return undefined;
    s.inj.argArea = scratch.addr + BigInt(scratch.size - ARG_AREA);
    return snapshotOf(pid, s);
  } catch (e) {
    if (s !== undefined) collect(s.pid);
    throw e;
  }
}

/** Ends the task's clone C: collected by its tracer it is still the task's zombie (exit signal 0 reaps nothing by itself). */
function reapClone(task: Injector, c: number, buf: bigint): void {
  collect(c);
  const w = task.raw('waitid', P_PID, c, buf, WEXITED | __WALL, 0);
  if (w !== 0n) throw new Error(`waitid in task ${task.pid} for its clone ${c} failed (${-w})`);
}

function snapshotOf(pid: number, s: PtracedClone): Snapshot {
  let alive = true;
  return {
    pid: s.pid,
    inj: s.inj,
    // Until then it holds the task's open files and is in its process group.
    letGo: () => separate(s, pid),
    // Once collected its PID may be another process's.
    kill: () => { if (alive) killClone(s.pid); },
    end() {
      if (alive) collect(s.pid);
      alive = false;
    },
  };
}
