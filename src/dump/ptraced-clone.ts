/**
 * A process made by an injected clone in a stopped task, for the memory keeper (mm-keeper.ts) and
 * the snapshot (snapshot.ts): CLONE_PTRACE makes it born stopped under cryo's ptrace, so it never
 * runs a user instruction; cryo drives it by injected calls at the task's syscall instruction
 * (the clone has the task's code). Its stack pointer is NO_STACK and it holds PTRACE_O_EXITKILL
 * (a clone of its own inherits both), which the task never holds: a cryo killed in the clone's call
 * would take the task with it. Exit signal 0: cryo, its tracer, collects it.
 */
import { Injector, UndoList, injectClone } from '../inject/index.js';
import { PTRACE_O_EXITKILL, __WALL, kill, ptrace, waitForStop, waitpid } from '../sys/index.js';

/**
 * A stack pointer in the never-mapped first page: a clone that ever runs (the task ran the clone
 * itself, cryo killed before it) dies at its first instruction, the rt_sigreturn of cryo's call
 * ending, whose frame it cannot read, instead of running the task's code on the task's stack.
 */
const NO_STACK = 0x100n;

/** The clone shares the task's address space instead of copying it. */
export const CLONE_VM = 0x100;
const CLONE_PTRACE = 0x2000;
const SIGKILL = 9;

export interface PtracedClone {
  readonly pid: number;
  /** Calls in it, at the task's site; its registers are never put back (it never runs). */
  readonly inj: Injector;
}

/**
 * A clone (`flags` and CLONE_PTRACE) of the stopped task `task` drives, stopped, with ptrace
 * `options` and EXITKILL; undefined where the kernel refuses it (a cgroup's pids.max, no memory).
 * `made`: told its pid as soon as it exists. Any other failure is thrown, the clone killed and
 * collected.
 */
export function ptracedClone(task: Injector, flags: number, options: number, made?: (pid: number) => void): PtracedClone | undefined {
  const r = injectClone(task, { flags: flags | CLONE_PTRACE, stack: NO_STACK });
  if (r <= 0n) return undefined;
  const pid = Number(r);
  try {
    made?.(pid);
    waitForStop(pid, { timeoutMs: 1000 });
    ptrace.setOptions(pid, options | PTRACE_O_EXITKILL);
    return { pid, inj: Injector.attach(pid, task.arch, new UndoList(), { site: task.site, survivable: true }) };
  } catch (e) {
    collect(pid);
    throw e;
  }
}

/**
 * Closes the clone's copy of the task's descriptors (a pipe's reader would not see its end) and
 * takes it out of the task's process group and session (a PID in use as a group's or session's id
 * cannot be taken again).
 */
export function separate(c: PtracedClone, task: number): void {
  if (c.inj.raw('close_range', 0, 0xffffffff, 0) !== 0n || c.inj.raw('setsid') < 0n) throw new Error(`cannot separate cryo's clone ${c.pid} from task ${task}`);
}

/** Kills a clone (SIGKILL: it is stopped and traced); its memory goes while it exits. */
export function killClone(pid: number): void {
  try { kill(pid, SIGKILL); } catch { /* gone */ }
}

/** Kills and collects a clone: done when it has exited. */
export function collect(pid: number): void {
  killClone(pid);
  try { waitpid(pid, __WALL); } catch { /* collected */ }
}
