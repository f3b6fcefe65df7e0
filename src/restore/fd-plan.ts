// Descriptors placed in batches: copies of another process's open file (pidfd_getfd), second
// descriptors of one open file (dup3) and moves to the dumped number run as one stop per run of
// them, not one stop per call (a tree's children each take the root's stdin, stdout and stderr).
// Their results are known in advance (the kernel gives the lowest free number, and cryo knows the
// table: /proc/PID/fd, then every call of the run); each is checked against that after the run.

import { readdirSync } from 'node:fs';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { FD_CLOEXEC, F_DUPFD_CLOEXEC, F_SETFD, O_CLOEXEC } from '../shared/constants.js';
import { batchFor } from './scratch.js';

type Op =
  | { kind: 'dup'; from: number; target: number; cloexec: boolean }
  | { kind: 'place'; fd: number; target: number; cloexec: boolean }
  | { kind: 'import'; from: TaskCtx; fd: number; target: number; cloexec: boolean };

/** Above this the pidfds' numbers could meet the task's limit of descriptors: those runs go call by call. */
const HIGHEST_BATCHED = 512;

/** The lowest number from `lo` up that `open` lacks (what the kernel hands out). */
function lowestFree(open: ReadonlySet<number>, lo = 0): number {
  let n = lo;
  while (open.has(n)) n++;
  return n;
}

/** The calls that leave `fd`'s open file at `target` alone, with its close-on-exec flag. */
function moveCalls(fd: number, target: number, cloexec: boolean): { name: string; args: number[] }[] {
  // Kinds may hand over a close-on-exec descriptor (F_DUPFD_CLOEXEC): set the flag either way.
  if (fd === target) return [{ name: 'fcntl', args: [target, F_SETFD, cloexec ? FD_CLOEXEC : 0] }];
  return [{ name: 'dup3', args: [fd, target, cloexec ? O_CLOEXEC : 0] }, { name: 'close', args: [fd] }];
}

export class FdPlan {
  private ops: Op[] = [];

  constructor(private readonly ctx: TaskCtx) {}

  /** A second descriptor `target` of the open file at `from` (dup3). */
  dup(from: number, target: number, cloexec: boolean): void {
    this.ops.push({ kind: 'dup', from, target, cloexec });
  }

  /** Moves `fd` to `target` with its close-on-exec flag. */
  place(fd: number, target: number, cloexec: boolean): void {
    this.ops.push({ kind: 'place', fd, target, cloexec });
  }

  /** A copy at `target` of descriptor `fd` of another process of the tree (stopped under cryo). */
  import(from: TaskCtx, fd: number, target: number, cloexec: boolean): void {
    this.ops.push({ kind: 'import', from, fd, target, cloexec });
  }

  /** Runs what is queued (before any other call into the task: the table must be as cryo left it). */
  flush(): void {
    const ops = this.ops.splice(0);
    if (ops.length === 0) return;
    const top = Math.max(...ops.map((o) => o.target));
    if (top >= HIGHEST_BATCHED) return ops.forEach((o) => this.oneByOne(o));
    let open: Set<number>;
    try {
      open = new Set(readdirSync(`/proc/${this.ctx.pid}/fd`).map(Number));
    } catch {
      return ops.forEach((o) => this.oneByOne(o));
    }
    const calls: { name: string; args: (bigint | number)[]; expect?: number }[] = [];
    const add = (name: string, args: (bigint | number)[], expect?: number) => calls.push({ name, args, expect });
    const moveTo = (fd: number, target: number, cloexec: boolean) => {
      for (const c of moveCalls(fd, target, cloexec)) add(c.name, c.args);
      if (fd === target) return;
      open.add(target);
      open.delete(fd);
    };
    // One pidfd per process taken from, above every number placed here (none is overwritten).
    const pidfds = new Map<number, number>();
    for (const o of ops) {
      if (o.kind !== 'import' || pidfds.has(o.from.pid)) continue;
      const p = lowestFree(open);
      add('pidfd_open', [o.from.pid, 0], p);
      open.add(p);
      const high = lowestFree(open, top + 1);
      add('fcntl', [p, F_DUPFD_CLOEXEC, top + 1], high);
      open.add(high);
      add('close', [p]);
      open.delete(p);
      pidfds.set(o.from.pid, high);
    }
    for (const o of ops) {
      if (o.kind === 'dup') {
        add('dup3', [o.from, o.target, o.cloexec ? O_CLOEXEC : 0]);
        open.add(o.target);
      } else if (o.kind === 'place') {
        moveTo(o.fd, o.target, o.cloexec);
      } else {
        const got = lowestFree(open);
        add('pidfd_getfd', [pidfds.get(o.from.pid)!, o.fd, 0], got);
        open.add(got);
        moveTo(got, o.target, o.cloexec);
      }
    }
    for (const pidfd of pidfds.values()) add('close', [pidfd]);
    const results = batchFor(this.ctx).runAll(calls);
    calls.forEach((c, i) => {
      if (c.expect !== undefined && results[i] !== BigInt(c.expect)) {
        throw new RestoreError('FAILED', `${c.name}() in process ${this.ctx.pid} gave descriptor ${results[i]}, where cryo's account of its table says ${c.expect}: something else changed its descriptors`);
      }
    });
  }

  /** The same, one call at a time, each result used as it comes. */
  private oneByOne(o: Op): void {
    const { ctx } = this;
    if (o.kind === 'dup') {
      ctx.call('dup3', o.from, o.target, o.cloexec ? O_CLOEXEC : 0);
      return;
    }
    const fd = o.kind === 'place' ? o.fd : ctx.importFd(o.from, o.fd);
    for (const c of moveCalls(fd, o.target, o.cloexec)) ctx.call(c.name, ...c.args);
  }
}
