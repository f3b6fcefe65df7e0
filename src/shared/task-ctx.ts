// What every restore step works with: the task, its images, and a way to run
// system calls inside it (re-attached when the syscall instruction moves).
// One TaskCtx per thread: `pid` is the process, `tid` the thread injected calls
// run in, and `img.core` that thread's core image.

import type { Arch } from '../arch/types.js';
import { Injector, UndoList } from '../inject/index.js';
import { processVmReadv, processVmWritev, AT_FDCWD } from '../sys/index.js';
import type { RestoreImages } from './restore-images.js';
import type { RestoreEvent } from './restore-events.js';
import { RestoreError } from './restore-error.js';

/** State kept by key, and work queued until a later step runs it. */
export class SharedState {
  private readonly states = new Map<string, unknown>();
  private readonly queued: (() => void)[] = [];

  state<T>(key: string, init: () => T): T {
    if (!this.states.has(key)) this.states.set(key, init());
    return this.states.get(key) as T;
  }

  later(fn: () => void): void {
    this.queued.push(fn);
  }

  /** Runs the queued work in order, including work queued meanwhile. */
  runLater(): void {
    while (this.queued.length > 0) this.queued.shift()!();
  }

  private readonly ends: (() => void)[] = [];

  /** Cleanup for when restore ends, whether it succeeded or failed (temporary names in the file system). */
  atEnd(fn: () => void): void {
    this.ends.push(fn);
  }

  /** Runs every cleanup once; the first error is thrown after all ran. */
  runAtEnd(): void {
    let first: unknown;
    for (const fn of this.ends.splice(0)) {
      try { fn(); } catch (e) { first ??= e; }
    }
    if (first !== undefined) throw first;
  }
}

/**
 * What the processes of one restored tree share: state kept across processes (an open file, a
 * pipe, a shared memory object made in one process and handed to the others) and work that waits
 * until every process has its descriptors.
 */
export class TreeShare extends SharedState {}

export class TaskCtx {
  inj: Injector;
  /** Scratch memory in the task for paths and structs passed to injected calls. */
  scratch: { addr: bigint; size: number } | undefined;

  readonly tid: number;

  /** Shared with the other processes of the tree. */
  tree = new TreeShare();

  /** Work that needs the process's other threads, which are made after its files: run with their contexts. */
  private readonly threadWork: ((threads: readonly TaskCtx[]) => void)[] = [];

  /** restore --lazy-pages: the dump's lazy runs are left to `cryo lazy-pages`; cryo's copy of the task's userfaultfd. */
  lazyPages = false;
  lazyFd: number | undefined;

  /**
   * A page of cryo's holding the syscall instruction, for a task dumped without a vDSO: every
   * injected call runs there, up to the rt_sigreturn that ends the restore (restore/stub-vdso.ts).
   */
  syscallPage: bigint | undefined;

  /** `inj`: an injector already attached to the thread (with `arch`), which the context takes over. */
  constructor(readonly pid: number, readonly arch: Arch, readonly img: RestoreImages, readonly emit: (e: RestoreEvent) => void, tid = pid, syscallPage?: bigint, inj?: Injector) {
    this.tid = tid;
    this.syscallPage = syscallPage;
    // /proc/PID/maps only where the syscall instruction must be searched for.
    this.inj = inj?.pid === tid && inj.arch === arch ? inj : Injector.attach(tid, arch, new UndoList(), { site: syscallPage, trapIgnored: false });
  }

  /** Finds the syscall instruction again (after the vdso moved). */
  reattach(): void {
    const argArea = this.inj.argArea;
    this.inj = Injector.attach(this.tid, this.arch, new UndoList(), { site: this.syscallPage, trapIgnored: this.inj.trapIgnored() });
    this.inj.argArea = argArea;
  }

  /** The context of another (stopped, traced) thread of the task, with its core image `core`; the scratch memory is shared. */
  forThread(tid: number, core: RestoreImages['core']): TaskCtx {
    // The address space is shared: the main thread's syscall instruction serves (no search in maps).
    const t = new TaskCtx(this.pid, this.arch, { ...this.img, core }, this.emit, tid, this.syscallPage ?? this.inj.site);
    t.scratch = this.scratch;
    t.inj.argArea = this.inj.argArea;
    t.tree = this.tree;
    return t;
  }

  /** Queues `fn` until the process's other threads exist (see runWithThreads). */
  withThreads(fn: (threads: readonly TaskCtx[]) => void): void {
    this.threadWork.push(fn);
  }

  /** Runs the work queued by withThreads, given the contexts of the other threads. */
  runWithThreads(threads: readonly TaskCtx[]): void {
    while (this.threadWork.length > 0) this.threadWork.shift()!(threads);
  }

  /** Whether this is the process's main thread (process-wide state is restored there). */
  get isMain(): boolean {
    return this.tid === this.pid;
  }

  call(name: string, ...args: (bigint | number)[]): bigint {
    return this.inj.call(name, ...args);
  }

  raw(name: string, ...args: (bigint | number)[]): bigint {
    return this.inj.raw(name, ...args);
  }

  /** Copies `data` into the scratch area at `offset` and returns its address in the task. */
  put(data: Buffer, offset = 0): bigint {
    if (!this.scratch) throw new Error('internal: no scratch memory in the task yet');
    if (offset + data.length > this.scratch.size) throw new Error(`internal: ${data.length} bytes do not fit the scratch area`);
    const at = this.scratch.addr + BigInt(offset);
    if (processVmWritev(this.pid, at, data) !== data.length) throw new Error(`cannot write cryo's scratch memory in task ${this.pid}`);
    return at;
  }

  /** Reads back `len` bytes of the scratch area (results of injected calls). */
  get(offset: number, len: number): Buffer {
    if (!this.scratch) throw new Error('internal: no scratch memory in the task yet');
    const b = processVmReadv(this.pid, this.scratch.addr + BigInt(offset), len);
    if (b.length !== len) throw new Error(`cannot read cryo's scratch memory in task ${this.pid}`);
    return b;
  }

  /** A NUL-terminated path in scratch memory. */
  putString(s: string, offset = 0): bigint {
    return this.put(Buffer.from(`${s}\0`), offset);
  }

  /**
   * A descriptor of another process of the tree (`from`, stopped under cryo), copied into this
   * task with pidfd_getfd: the same open file description (offset, flags). Close-on-exec is set.
   */
  importFd(from: TaskCtx, fd: number): number {
    const pidfd = Number(this.call('pidfd_open', from.pid, 0));
    try {
      return Number(this.call('pidfd_getfd', pidfd, fd, 0));
    } finally {
      this.call('close', pidfd);
    }
  }

  warn(message: string): void {
    this.emit({ type: 'warning', message });
  }
}


/** Opens a file inside the task; returns the task's fd. */
export function openInTask(ctx: TaskCtx, file: string, flags: number, why: string): number {
  const at = ctx.putString(file);
  const r = ctx.raw('openat', AT_FDCWD, at, flags, 0);
  if (r < 0n) throw new RestoreError('FAILED', `cannot open ${file} (${why}) in the restored task: errno ${-r}`);
  return Number(r);
}
