/**
 * Fault injection, as CRIU's --fault: CRYO_FAULT makes a dump or a restore fail (or pause) at a
 * chosen point, to prove that every failure leaves the task unharmed (dump) or nothing behind
 * (restore). The points of an operation are counted from 1 in the order they are reached: each
 * named step, each system call or batch injected into a task, each /proc read, each image file
 * written or read. From point N on, every point fails (a caller that shrugs off one failure, such as
 * a /proc file of a thread that may have ended, meets the next), as a disk that filled up or a task
 * that went away would. A dump stops counting when its undo starts: cryo's own cleanup is no point
 * (its manifest and inventory, written after, count again).
 *
 *   CRYO_FAULT=SPEC[,SPEC...]   SPEC = OP:WHERE[:ACTION]
 *     OP      dump | restore
 *     WHERE   a step name (dump: seize, task, inject, scratch, memory, files, write;
 *             restore: preflight, stub, memory, files, task-state, resume) or a number N (the Nth point)
 *     ACTION  fail (default), or pause (steps only: wait there, up to 60 s, until the operation is
 *             aborted; the operation says so in a warning event first), or kill (cryo SIGKILLs
 *             itself there: the death nothing can catch, at a chosen instant), or kill-in-call
 *             (SIGKILL while the first system call injected from point N, or from the step, on holds
 *             cryo's registers in the task: the task runs on through the call's rt_sigreturn ending
 *             (inject/call-ending.ts), or without it, harmed, which tests show their check sees)
 *   CRYO_FAULT_TRACE=FILE       appends one line per point, `OP N WHAT` (the sweeps read it)
 *
 * The module keeps the plan of the operation that runs now (one at a time per process).
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type FaultOp = 'dump' | 'restore';
type Action = 'fail' | 'pause' | 'kill' | 'kill-in-call';
const ACTIONS: readonly Action[] = ['fail', 'pause', 'kill', 'kill-in-call'];

interface Plan {
  op: FaultOp;
  step?: string;
  nth?: number;
  action: Action;
  spec: string;
}

/** What an injected fault throws; dump and restore turn it into their own error. */
export class FaultInjected extends Error {
  constructor(readonly op: FaultOp, readonly where: string, readonly spec: string) {
    super(`fault injected at ${op} ${where} (CRYO_FAULT=${spec})`);
    this.name = 'FaultInjected';
  }
}

const OPS: readonly FaultOp[] = ['dump', 'restore'];

/** Parses CRYO_FAULT; a malformed spec is one line saying what is wrong. */
export function parseFaults(text: string | undefined): Plan[] {
  if (!text) return [];
  return text.split(',').map((spec) => {
    const [op, where, action = 'fail', ...rest] = spec.trim().split(':');
    const bad = (why: string) => new Error(`CRYO_FAULT=${text}: ${why} (expected dump|restore:STEP|N[:fail|pause|kill|kill-in-call])`);
    if (!OPS.includes(op as FaultOp)) throw bad(`'${op}' is no operation`);
    if (!where || rest.length > 0) throw bad(`'${spec}' is no OP:WHERE[:ACTION]`);
    if (!ACTIONS.includes(action as Action)) throw bad(`'${action}' is no action`);
    const nth = /^\d+$/.test(where) ? Number(where) : undefined;
    if (nth === 0) throw bad('points count from 1');
    if (nth !== undefined && action === 'pause') throw bad('only a named step can pause');
    return nth === undefined ? { op: op as FaultOp, step: where, action: action as Action, spec } : { op: op as FaultOp, nth, action: action as Action, spec };
  });
}

interface Active {
  op: FaultOp;
  plans: Plan[];
  count: number;
  on: boolean;
  trace?: number;
}

let active: Active | undefined;
const lastCounts = new Map<FaultOp, number>();

/**
 * Starts counting the points of `op` with the plans CRYO_FAULT (in `env`) has for it; returns the
 * function that ends it (and keeps the count for faultCount).
 */
export function beginFaults(op: FaultOp, env: NodeJS.ProcessEnv = process.env): () => void {
  const outer = active;
  const mine: Active = { op, plans: parseFaults(env.CRYO_FAULT).filter((p) => p.op === op), count: 0, on: true };
  if (env.CRYO_FAULT_TRACE) mine.trace = openSync(env.CRYO_FAULT_TRACE, 'a', 0o600);
  active = mine;
  return () => {
    lastCounts.set(op, mine.count);
    if (mine.trace !== undefined) closeSync(mine.trace);
    active = outer;
  };
}

/** No more points from here on in this operation (a dump's undo). */
export function faultsOff(): void {
  if (active) active.on = false;
}

/** Points again (a dump's manifest and inventory, written after its undo: no cleanup of cryo's). */
export function faultsOn(): void {
  if (active) active.on = true;
}

/**
 * Runs `fn` with no points counted: for reads whose number depends on the machine rather than on
 * the dumped tasks (the scan of every process for the ends of the tree's pipes), which the caller
 * counts as one point instead, so that a task's state alone fixes the numbering.
 */
export function uncounted<T>(fn: () => T): T {
  const a = active;
  if (!a?.on) return fn();
  a.on = false;
  try {
    return fn();
  } finally {
    a.on = true;
  }
}

/** How many points the last `op` counted (a test walks them all with CRYO_FAULT=OP:N). */
export function faultCount(op: FaultOp): number | undefined {
  return lastCounts.get(op);
}

/** A counted point: the Nth of the operation and every later one fail when CRYO_FAULT names N. */
export function faultPoint(what: string): void {
  if (!active?.on) return;
  const n = ++active.count;
  if (active.trace !== undefined) writeSync(active.trace, `${active.op} ${n} ${what}\n`);
  const hit = active.plans.find((p) => p.nth !== undefined && n >= p.nth);
  if (hit?.action === 'kill') process.kill(process.pid, 'SIGKILL');
  if (hit && hit.action !== 'kill-in-call') throw new FaultInjected(active.op, `point ${n} (${what})`, hit.spec);
}

/** Where an injected call holds cryo's registers in the task: CRYO_FAULT's kill-in-call acts here. */
export function faultInCall(): void {
  if (!active?.on) return;
  const n = active.count;
  if (active.plans.some((p) => p.action === 'kill-in-call' && p.nth !== undefined && n >= p.nth)) process.kill(process.pid, 'SIGKILL');
}

/**
 * A named step (also a counted point): fails there when CRYO_FAULT names it, or pauses there until
 * `aborted()` says the operation was interrupted (at most 60 s), after `announce` told the caller.
 */
export async function faultStep(step: string, announce: (message: string) => void, aborted: () => boolean): Promise<void> {
  faultPoint(`step ${step}`);
  const hit = active?.on ? active.plans.find((p) => p.step === step) : undefined;
  if (!hit) return;
  if (hit.action === 'kill') process.kill(process.pid, 'SIGKILL');
  // From this step's point on, as for a number (the first time the step is reached).
  if (hit.action === 'kill-in-call') { hit.nth ??= active!.count; return; }
  if (hit.action === 'fail') throw new FaultInjected(hit.op, `step '${step}'`, hit.spec);
  announce(`paused at ${hit.op} step '${step}' (CRYO_FAULT=${hit.spec}) until interrupted`);
  for (let i = 0; i < 6000 && !aborted(); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Forgets the running operation and the counts (a resident service between two commands). */
export function resetFaults(): void {
  active = undefined;
  lastCounts.clear();
}
