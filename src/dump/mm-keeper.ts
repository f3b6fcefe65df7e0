/**
 * A dump that ends its task lets its PID go without waiting for the kernel to free the task's
 * memory (`keepMemory`, used by cryo migrate: on one machine the destination needs the PID back,
 * and freeing 1 GiB takes ~100 ms, 4 GiB ~400, all inside the migration's freeze).
 *
 * Just before the kill, an injected clone(CLONE_VM | CLONE_PTRACE) makes a keeper: a process
 * sharing the task's address space, born stopped under cryo's ptrace and never run (its own copy
 * of the descriptor table is closed at once by an injected close_range, and setsid takes it out of
 * the task's process group and session, whose ids would hold the PID). The task then exits as a
 * small process would; the address space goes when the keeper is released (SIGKILLed), once the
 * task runs at the destination. The keeper holds PTRACE_O_EXITKILL and has no stack
 * (ptraced-clone.ts): no keeper outlives cryo or runs the task's code. Unlike a dump's task, this
 * one holds EXITKILL too: its call-ending area is gone by now, so a cryo killed inside the clone's
 * call would leave it running on cryo's registers; it was being ended anyway, its images complete.
 */
import type { Arch } from '../arch/types.js';
import { Injector, UndoList } from '../inject/index.js';
import { PTRACE_O_EXITKILL, PTRACE_O_SUSPEND_SECCOMP, PTRACE_O_TRACESYSGOOD, ptrace } from '../sys/index.js';
import { readStatus } from '../proc/index.js';
import type { MessageValue } from '../images/index.js';
import { VMA } from '../shared/vma-kinds.js';
import { CLONE_VM, killClone, ptracedClone, separate } from './ptraced-clone.js';

/**
 * The processes whose memory may outlive them in a keeper: not those whose mappings hold more than
 * memory (System V shared memory, an AIO or io_uring ring, a socket's ring: a removed segment, a
 * ring's requests and registered files, a socket would stay until the keeper goes).
 */
export function keepablePids(procs: readonly { pid: number; mm: MessageValue }[]): number[] {
  const holds = (v: MessageValue) => (Number(v.status) & (VMA.SYSVIPC | VMA.AIORING | VMA.IO_URING | VMA.SOCKET)) !== 0;
  return procs.filter((p) => !((p.mm.vmas ?? []) as MessageValue[]).some(holds)).map((p) => p.pid);
}

export interface Keepers {
  /** Ends the keepers: the kernel frees the memory now. */
  release(): void;
}

/** A keeper for each of `pids` (seized and stopped, about to be killed) where one can be made. */
export function keepMemory(pids: readonly number[], arch: Arch): Keepers {
  const made: number[] = [];
  for (const pid of pids) {
    const k = keeperOf(pid, arch);
    if (k !== undefined) made.push(k);
  }
  return { release: () => { for (const k of made.splice(0)) killClone(k); } };
}

function keeperOf(pid: number, arch: Arch): number | undefined {
  const undo = new UndoList();
  let keeper: number | undefined;
  try {
    const options = PTRACE_O_TRACESYSGOOD | (readStatus(pid).seccomp !== 0 ? PTRACE_O_SUSPEND_SECCOMP : 0);
    ptrace.setOptions(pid, options | PTRACE_O_EXITKILL);
    const k = ptracedClone(Injector.attach(pid, arch.forTask(pid), undo, { survivable: true }), CLONE_VM, options);
    if (k === undefined) return undefined;
    keeper = k.pid;
    separate(k, pid);
    return keeper;
  } catch {
    // Without a keeper the task is killed as usual (its memory freed before its PID goes).
    if (keeper !== undefined) killClone(keeper);
    return undefined;
  } finally {
    undo.run();
  }
}
