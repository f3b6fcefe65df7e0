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
 * set on the task only around the first clone and inherited by C and S, takes them with a cryo that
 * dies: neither may ever run the task's code.
 */
import type { Arch } from '../arch/types.js';
import { Injector, UndoList, injectClone } from '../inject/index.js';
import {
  P_PID, PTRACE_O_EXITKILL, PTRACE_O_SUSPEND_SECCOMP, PTRACE_O_TRACESYSGOOD, WEXITED, __WALL, kill, ptrace, waitForStop, waitpid,
} from '../sys/index.js';
import { readFileSync } from 'node:fs';
import type { DumpVma } from './vmas.js';
import { VMA } from '../shared/vma-kinds.js';

const CLONE_VM = 0x100;
const CLONE_PTRACE = 0x2000;
const SIGKILL = 9;
/** Below this much private memory the snapshot's set-up (~1 ms) costs more than the copy it saves. */
const MIN_BYTES = 16 << 20;
/** The end of the scratch area the snapshot's argument blocks use (old_mmap's six words). */
const ARG_AREA = 64;
/**
 * VmFlags that rule a snapshot out: pages the fork leaves behind or wipes (MADV_DONTFORK,
 * MADV_WIPEONFORK), and userfaultfd registrations (a monitor with UFFD_FEATURE_EVENT_FORK would
 * hear of the fork).
 */
const NO_FORK_FLAGS = ['dc', 'wf', 'um', 'uw', 'ui'];

export interface Snapshot {
  /** The snapshot process: the task's private memory as it was at the freeze. */
  readonly pid: number;
  readonly inj: Injector;
  /** Once the task runs again, before its pages are read: closes the descriptors it copied and leaves the task's session. */
  letGo(): void;
  /** Kills and collects it (idempotent). */
  end(): void;
}

/** RssAnon of /proc/PID/status (its raw lines), in bytes. */
export function anonBytes(status: Readonly<Record<string, string>>): number {
  return parseInt(status.RssAnon ?? '0', 10) * 1024;
}

/**
 * Why this process's pages cannot come from a snapshot, or undefined when they can. `anonBytes`:
 * its RssAnon, the most a snapshot can come to cost (the task rewriting every page meanwhile):
 * it must fit into the machine's available memory and the task's memory cgroup twice over.
 */
export function whyNoSnapshot(pid: number, vmas: readonly DumpVma[], anonBytes: number, childSubreaper: boolean): string | undefined {
  if (anonBytes < MIN_BYTES) return 'small';
  // The snapshot would be orphaned to the task itself.
  if (childSubreaper) return 'child subreaper';
  for (const d of vmas) {
    if (d.vma.smaps === undefined) return 'no VmFlags';
    if ((d.status & (VMA.AIORING | VMA.IO_URING | VMA.SYSVIPC)) !== 0) return 'ring or System V mapping';
    if (d.vma.smaps.vmFlags.some((f) => NO_FORK_FLAGS.includes(f))) return 'VMA the fork does not copy';
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
export function takeSnapshot(task: Injector, arch: Arch, undo: UndoList, seccomp: boolean, scratch: { addr: bigint; size: number }): Snapshot | undefined {
  const pid = task.pid;
  const options = PTRACE_O_TRACESYSGOOD | (seccomp ? PTRACE_O_SUSPEND_SECCOMP : 0);
  ptrace.setOptions(pid, options | PTRACE_O_EXITKILL);
  let r: bigint;
  try {
    r = injectClone(task, { flags: CLONE_VM | CLONE_PTRACE });
  } finally {
    ptrace.setOptions(pid, options);
  }
  // The kernel's refusal (a cgroup's pids.max, no memory): the pages are then written in the freeze.
  if (r <= 0n) return undefined;
  const c = Number(r);
  // Reaped after a failure too, by the dump's undo (which runs with fault injection off).
  const dropReap = undo.push(`reap cryo's clone ${c} in task ${pid}`, () => reapClone(task, c, scratch.addr));
  let s: number | undefined;
  try {
    waitForStop(c, { timeoutMs: 1000 });
    const f = injectClone(Injector.attach(c, arch, new UndoList(), { site: task.site, survivable: true }), { flags: CLONE_PTRACE });
    if (f > 0n) {
      s = Number(f);
      waitForStop(s, { timeoutMs: 1000 });
    }
    reapClone(task, c, scratch.addr);
    dropReap();
    if (s === undefined) return undefined;
    const sInj = Injector.attach(s, arch, new UndoList(), { site: task.site, survivable: true });
    sInj.argArea = scratch.addr + BigInt(scratch.size - ARG_AREA);
    return snapshotOf(pid, s, sInj);
  } catch (e) {
    if (s !== undefined) collect(s);
    throw e;
  }
}

function collect(p: number): void {
  try { kill(p, SIGKILL); } catch { /* gone */ }
  try { waitpid(p, __WALL); } catch { /* collected */ }
}

/** Ends the task's clone C: collected by its tracer it is still the task's zombie (exit signal 0 reaps nothing by itself). */
function reapClone(task: Injector, c: number, buf: bigint): void {
  collect(c);
  const w = task.raw('waitid', P_PID, c, buf, WEXITED | __WALL, 0);
  if (w !== 0n) throw new Error(`waitid in task ${task.pid} for its clone ${c} failed (${-w})`);
}

function snapshotOf(pid: number, s: number, inj: Injector): Snapshot {
  let alive = true;
  return {
    pid: s,
    inj,
    letGo() {
      // Until then it holds the task's open files (a pipe's reader would not see its end) and is in its process group.
      if (inj.raw('close_range', 0, 0xffffffff, 0) !== 0n || inj.raw('setsid') < 0n) throw new Error(`cannot separate the snapshot ${s} of task ${pid} from it`);
    },
    end() {
      if (alive) collect(s);
      alive = false;
    },
  };
}
