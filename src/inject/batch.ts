/**
 * Many injected system calls in one stop: the calls are written as a table into the task and the
 * architecture's batch runner (SyscallAbi.batchCode, placed in the task by the caller) runs them
 * all, stopping at the first that fails. One ptrace round trip instead of one per call, which is
 * what mapping 10,000 VMAs costs otherwise. It needs code and a table in the task's memory: the
 * restore stub's own pages, or in a dumped task an area cryo maps and unmaps again (batch-area.ts).
 * Without batchCode every call runs on its own.
 */
import { processVmReadv, processVmWritev, readU64, writeU64 } from '../sys/index.js';
import { InjectError, syscallFailed } from './errors.js';
import { numberIn, type Injector } from './injector.js';
import { injectMmap, mmapCallOf, type MmapArgs } from './mmap.js';
import { stopAll, waitParked, waitParkedAll, type BatchPark } from './batch-park.js';

/** Words per table entry: nr, 6 arguments, result. */
const ENTRY_WORDS = 8;
export const ENTRY_BYTES = ENTRY_WORDS * 8;
/** Bit 63 of an entry's nr word: the runner goes on after this call fails (SyscallAbi.batchCode). */
const GO_ON_AFTER_FAILURE = 1n << 63n;
/** Bit 62: a call of the task's own ABI (SyscallAbi.batchTaskCalls). */
const TASK_ABI = 1n << 62n;

/** One call of a batch; `task`: through the task's own ABI (Arch.taskSyscall: the calls whose effect depends on it). */
export interface BatchCall { name: string; args: (bigint | number)[]; task?: boolean; /** Its failure is its result (-errno), and the runner goes on. */ mayFail?: true }

/** Whether a batch in a task of `arch` can hold calls of the task's own ABI (`task`). */
export const batchesTaskCalls = (arch: Injector['arch']): boolean => arch.taskSyscall === arch.syscall || arch.syscall.batchTaskCalls === true;

export interface BatchPlace {
  /** Where the batch runner's code is (executable), or undefined to run calls one by one. */
  code: bigint | undefined;
  /** A writable area for the table, and its size. */
  table: bigint;
  tableSize: number;
  /** Where a batch can end in the thread's own state (batch-park.ts), for threads whose calls end so. */
  park?: BatchPark;
}

export class SyscallBatch {
  private readonly calls: BatchCall[] = [];
  private readonly max: number;

  constructor(private readonly inj: () => Injector, private readonly place: BatchPlace) {
    this.max = Math.floor(place.tableSize / ENTRY_BYTES);
    if (place.code !== undefined && this.max < 1) throw new InjectError('NO_SCRATCH', 'no room for a batch of system calls');
  }

  /** How many calls one table holds. */
  get room(): number {
    return this.max;
  }

  /** Whether calls wait for flush (a batch runner), or run as they are added. */
  get batched(): boolean {
    return this.place.code !== undefined;
  }

  /** Queues `name(args)`; runs the queue when it is full. A failure throws (from here or `flush`). */
  add(name: string, ...args: (bigint | number)[]): void {
    if (this.place.code === undefined) {
      this.inj().call(name, ...args);
      return;
    }
    this.calls.push({ name, args });
    if (this.calls.length === this.max) this.flush();
  }

  /** Queues `calls` without running any (at most `room` in all). */
  queue(calls: readonly BatchCall[]): void {
    if (this.calls.length + calls.length > this.max) throw new Error(`internal: ${this.calls.length + calls.length} calls queued in a table of ${this.max}`);
    this.calls.push(...calls);
  }

  /** Queues mmap(args) as the arch's ABI calls it; one that reads its arguments from memory runs on its own, in order. */
  addMmap(...args: MmapArgs): void {
    if (this.place.code === undefined) {
      injectMmap(this.inj(), ...args);
      return;
    }
    const c = mmapCallOf(this.inj(), args);
    if (c.argStruct === undefined) {
      this.add(c.name, ...c.args);
      return;
    }
    this.flush();
    injectMmap(this.inj(), ...args);
  }

  /** Runs `calls` in order (after any queued ones); returns each one's result. The first that fails throws, as flush. */
  runAll(calls: readonly BatchCall[]): bigint[] {
    this.flush();
    if (this.place.code === undefined) return calls.map((c) => (c.task ? this.inj().callTask(c.name, ...c.args) : this.inj().call(c.name, ...c.args)));
    const out: bigint[] = [];
    for (let i = 0; i < calls.length; i += this.max) {
      this.calls.push(...calls.slice(i, i + this.max));
      out.push(...this.flush());
    }
    return out;
  }

  /**
   * Runs every one of `calls` (after any queued ones), a failure too: returns each one's result,
   * -errno for a failure. For probes that mostly fail (one stop for thousands of them).
   */
  runEach(calls: readonly BatchCall[]): bigint[] {
    this.flush();
    if (this.place.code === undefined) return calls.map((c) => (c.task ? this.inj().rawTask(c.name, ...c.args) : this.inj().raw(c.name, ...c.args)));
    const out: bigint[] = [];
    for (let i = 0; i < calls.length; i += this.max) {
      this.calls.push(...calls.slice(i, i + this.max).map((c) => ({ ...c, mayFail: true as const })));
      out.push(...this.flush());
    }
    return out;
  }

  /**
   * Runs every queued call, in order; returns their results. Throws `ENAME from name(args) injected
   * into task PID` for the first that failed.
   */
  flush(): bigint[] {
    return this.start()();
  }

  /**
   * flush in two halves: the queued calls start running in the task, and other tasks' may run
   * meanwhile (each with a table of its own); the function returned waits for them and gives their
   * results, or throws as flush (the next call into the task waits for them first if it comes first).
   */
  start(): () => bigint[] {
    const l = this.launch();
    if (Array.isArray(l)) return () => l;
    // Waited for before anything else is asked of the task, if that comes first (Injector.inFlight).
    return l.inj.inFlight(() => {
      if (l.park) l.inj.finishEnded((ms) => waitParked(l.inj.pid, l.park!, ms));
      else l.inj.finishCode();
      return l.results();
    });
  }

  /**
   * Writes the queued calls' table into the task and starts the runner there; or runs them one by
   * one and returns their results (no runner, or a task that must not meet its breakpoint).
   */
  launch(): Launched | bigint[] {
    const n = this.calls.length;
    if (n === 0 || this.place.code === undefined) return [];
    const inj = this.inj();
    inj.settleInFlight(); // a batch still running there reads the table this one is written to
    // Ended in the thread's own state where the place has a park and the thread's calls end so;
    // else in the breakpoint, which a task that ignores SIGTRAP must not meet (Injector.trapIgnored).
    const park = inj.endsCalls ? this.place.park : undefined;
    if (park === undefined && inj.trapIgnored()) {
      return this.calls.splice(0).map((c) => (c.task ? (c.mayFail ? inj.rawTask : inj.callTask) : (c.mayFail ? inj.raw : inj.call)).call(inj, c.name, ...c.args));
    }
    // The first parked batch closes the task's copy of cryo's end first (BatchPark.closeFirst).
    const first = park?.closeFirst?.launched === false ? park.closeFirst : undefined;
    const lead = first ? [{ name: 'close', args: [first.fd], mayFail: true as const }] : [];
    const table = Buffer.alloc((lead.length + n) * ENTRY_BYTES);
    const ownAbi = inj.arch.taskSyscall === inj.arch.syscall;
    [...lead, ...this.calls].forEach((c: BatchCall, i) => {
      if (c.task && !ownAbi && !inj.arch.syscall.batchTaskCalls) throw new Error(`internal: ${c.name}() of task ${inj.pid}'s own ABI in a batch whose runner has none`);
      const nr = c.task && !ownAbi ? BigInt(numberIn(inj.arch.taskSyscall, c.name)) | TASK_ABI : BigInt(numberIn(inj.arch.syscall, c.name));
      writeU64(table, nr | (c.mayFail ? GO_ON_AFTER_FAILURE : 0n), i * ENTRY_BYTES);
      c.args.forEach((a, k) => writeU64(table, BigInt.asUintN(64, BigInt(a)), i * ENTRY_BYTES + 8 + k * 8));
      writeU64(table, 1n, i * ENTRY_BYTES + 56); // not run yet (no syscall returns 1 here)
    });
    const start = first?.at ?? this.place.table;
    if (processVmWritev(inj.pid, start, table) !== table.length) {
      throw new InjectError('NO_SCRATCH', `cannot write cryo's table of system calls into task ${inj.pid}`);
    }
    if (first) first.launched = true;
    const calls = this.calls.splice(0);
    const at = this.place.table;
    const results = (copy?: TaskCopy): bigint[] => {
      const off = copy === undefined ? -1 : Number(at - copy.at);
      const back = copy !== undefined && off >= 0 && off + n * ENTRY_BYTES <= copy.bytes.length ? copy.bytes.subarray(off) : processVmReadv(inj.pid, at, n * ENTRY_BYTES);
      const out: bigint[] = [];
      for (let i = 0; i < n; i++) {
        const r = BigInt.asIntN(64, readU64(back, i * ENTRY_BYTES + 56));
        if (r < 0n && r >= -4095n && !calls[i]!.mayFail) throw syscallFailed(inj.pid, calls[i]!.name, calls[i]!.args, r);
        out.push(r);
      }
      return out;
    };
    if (park) inj.startEnded(park.code, [start, BigInt(lead.length + n), park.pollfd]);
    else inj.startCode(this.place.code, at, n);
    return { inj, park, results };
  }
}

/** Whether the table entry at `at` of task `pid` ran (its result is no longer launch's "not run yet"). */
export function entryRan(pid: number, at: bigint): boolean {
  const b = processVmReadv(pid, at + 56n, 8);
  return b.length === 8 && readU64(b, 0) !== 1n;
}

/** Bytes of a task's memory from `at` on, read once every batch finished. */
export interface TaskCopy {
  at: bigint;
  bytes: Buffer;
}

/** A batch started in its task (SyscallBatch.launch). */
export interface Launched {
  inj: Injector;
  /** Where it ends parked; undefined: at the breakpoint. */
  park: BatchPark | undefined;
  /** Its results once it is finished (throws as flush); from `copy` where that holds its table. */
  results: (copy?: TaskCopy) => bigint[];
}

/**
 * Runs each job's calls (one table each, at most its place holds) in its own thread at the same
 * time: all are started, then waited for, the parked ones by one wait for all (their parks are ends
 * of one socket: waitParkedAll). Returns each job's results; a failure throws once every thread
 * started is stopped again (the undo list then puts its registers back). `copy`: one read of the
 * task's memory holding the tables, their results taken from it (not one read a thread).
 */
export function runTogether(jobs: readonly { batch: SyscallBatch; calls: readonly BatchCall[] }[], copy?: () => TaskCopy): bigint[][] {
  const started: Launched[] = [];
  const done: (bigint[] | undefined)[] = [];
  try {
    for (const { batch, calls } of jobs) {
      if (!batch.batched || calls.length > batch.room) {
        done.push(batch.runAll(calls));
        continue;
      }
      batch.queue(calls);
      const l = batch.launch();
      if (Array.isArray(l)) done.push(l);
      else {
        started.push(l);
        done.push(undefined);
      }
    }
    const fds = new Set(started.flatMap((l) => (l.park ? [l.park.fd] : [])));
    if (fds.size > 1) throw new Error('internal: batches run together end on different sockets');
  } catch (e) {
    stopAll(started.map((l) => l.inj.pid));
    throw e;
  }
  const parked = started.filter((l) => l.park !== undefined);
  try {
    // It stops them all itself when it fails.
    if (parked.length > 0) waitParkedAll(parked.map((l) => l.inj.pid), parked[0]!.park!.fd, parked[0]!.inj.timeoutMs);
  } catch (e) {
    stopAll(started.filter((l) => !l.park).map((l) => l.inj.pid));
    throw e;
  }
  // Parked threads are stopped from here on; finishCode waits for the others' breakpoints.
  for (let i = 0; i < started.length; i++) {
    const l = started[i]!;
    try {
      if (l.park) l.inj.finishEnded();
      else l.inj.finishCode();
    } catch (e) {
      stopAll(started.slice(i + 1).filter((o) => !o.park).map((o) => o.inj.pid));
      throw e;
    }
  }
  let k = 0;
  const mem = started.length > 0 ? copy?.() : undefined;
  return done.map((d) => d ?? started[k++]!.results(mem));
}
