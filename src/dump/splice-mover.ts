// Pages moved from the task with no copy in cryo: injected vmsplice into pipes the task owns,
// spliced from cryo's copies of their read ends into the pages file or a page server's socket.
import { closeSync, openSync, readFileSync } from 'node:fs';
import { IOV_MAX, iovecBytes, pidfdGetfd, pidfdOpen, processVmWritev, rawSyscall, spliceAll } from '../sys/index.js';
import { InjectError, SyscallBatch, mapBatchArea, type Area, type BatchArea, type Injector, type Scratch, type UndoList } from '../inject/index.js';
import { DumpError } from '../shared/dump-error.js';
import { F_GETPIPE_SZ, F_SETPIPE_SZ, O_CLOEXEC, O_NONBLOCK, SPLICE_F_NONBLOCK } from '../shared/constants.js';
import { readI32 } from '../sys/native-endian.js';

/** The injector and scratch page of the dump: with them, pages move by injected vmsplice. */
export interface PageInjection {
  inj: Injector;
  scratch: Scratch;
  undo: UndoList;
  /** The task's address space with cryo's areas in it (where cryo's batch area may go). */
  maps: readonly Area[];
}

/** Below this many bytes of pages, process_vm_readv + write beats setting up the pipe (CRYO_VMSPLICE_MIN_BYTES overrides). */
export const vmspliceMinBytes = () => Number(process.env.CRYO_VMSPLICE_MIN_BYTES ?? 4 << 20);
/** Pipes filled per stop of the task where the arch has a batch runner (CRYO_VMSPLICE_PIPES overrides). */
const splicePipes = () => Math.max(1, Number(process.env.CRYO_VMSPLICE_PIPES ?? 16));
/** Table pages of the dump's batch area: 64 calls per 4 KiB page. */
const BATCH_TABLE_PAGES = 1;

/** The largest pipe an unprivileged process may ask for (bigger pipes = fewer injected calls). */
function pipeMaxSize(): number {
  try {
    return Number(readFileSync('/proc/sys/fs/pipe-max-size', 'utf8').trim()) || 1 << 20;
  } catch {
    return 1 << 20;
  }
}

/** The size asked for each pipe: the largest allowed, or CRYO_VMSPLICE_PIPE_BYTES (tests: many small batches). */
const pipeBytes = () => Number(process.env.CRYO_VMSPLICE_PIPE_BYTES ?? 0) || pipeMaxSize();

/** One pipe the task owns: its fds there, cryo's copy of the read end, its capacity in bytes. */
interface TaskPipe { tfds: [number, number]; rfd: number; capacity: number }

/**
 * Moves pages from the task through pipes the task owns: an injected vmsplice puts references to
 * up to a pipe's worth of page runs into each (no copy), cryo splices them from its copies of the
 * read ends (pidfd_getfd) on (`drainTo`: into the file or socket, the one copy). Where
 * the arch has a batch runner, one stop of the task fills every pipe (see mapBatchArea); else one
 * pipe per stop, its iovecs in the scratch page.
 */
export class SpliceMover {
  private readonly pipes: TaskPipe[] = [];
  private readonly dropUndo: () => void;
  private readonly area: BatchArea | undefined;
  private readonly batch: SyscallBatch;
  /** Where pipe i's iovecs go in the task: iovAt + i * iovPerPipe * 16. */
  private readonly iovAt: bigint;
  private readonly iovPerPipe: number;
  private nullFd = -1;
  /** A batch of closes failed part way: some of the task's ends may be closed already. */
  private closedMaybe = false;
  /** The iovecs of one move(), made once. */
  private iov: Buffer | undefined;

  /** `drainTo(rfd, bytes)` takes the next `bytes` of pages out of the pipe read end rfd. */
  constructor(private readonly pi: PageInjection, private readonly drainTo: (rfd: number, bytes: number) => void, pageSize: number) {
    const { inj, scratch, undo, maps } = pi;
    const want = inj.arch.syscall.batchCode && process.env.CRYO_NO_BATCH !== '1' ? splicePipes() : 1;
    this.dropUndo = undo.push(`close cryo's pipes in task ${inj.pid}`, () => this.closeInTask());
    // The batch area first, for as many iovecs as the pipes can take at most: its runner then
    // makes every pipe in one stop (15 stops fewer).
    const roomSlots = Math.max(16, Math.ceil(2 ** Math.ceil(Math.log2(Math.max(pipeBytes(), pageSize))) / pageSize));
    let area: BatchArea | undefined;
    try {
      area = want > 1 ? this.tryBatchArea(maps, want, Math.min(IOV_MAX, roomSlots)) : undefined;
      this.batch = new SyscallBatch(() => inj, area ? area.place : { code: undefined, table: 0n, tableSize: 0 });
      // Without a batch runner more pipes only cost fds: one.
      this.openPipes(area ? want : 1);
    } catch (e) {
      this.release(); // the task's ends and the area: the undo list's
      throw e;
    }
    this.area = area;
    // A page-aligned run takes one pipe slot per page: a pipe never needs more iovecs than slots.
    const slots = Math.max(...this.pipes.map((p) => Math.ceil(p.capacity / pageSize)));
    if (area) {
      this.iovAt = area.extra;
      this.iovPerPipe = Math.min(IOV_MAX, slots, roomSlots);
    } else {
      this.iovAt = scratch.addr;
      this.iovPerPipe = Math.min(IOV_MAX, Math.floor(scratch.size / 16));
    }
  }

  /**
   * Makes up to `want` pipes in the task (at least one), each with cryo's copy of its read end:
   * several in one stop of the batch runner, each pipe2 writing its fds 8 bytes after the last.
   */
  private openPipes(want: number): void {
    const { inj, scratch } = this.pi;
    const flags = O_CLOEXEC | O_NONBLOCK;
    let made: number[] = [];
    if (want > 1) {
      const res = this.batch.runEach(Array.from({ length: want }, (_, i) => ({ name: 'pipe2', args: [scratch.addr + BigInt(8 * i), flags] })));
      made = res.flatMap((r, i) => (r === 0n ? [i] : [])); // the task's EMFILE and the like: fewer pipes do
    }
    if (made.length === 0) {
      inj.call('pipe2', scratch.addr, flags); // one, or the task's reason why not
      made = [0];
    }
    const b = scratch.read(0, 8 * (made[made.length - 1]! + 1));
    // Every pipe is the undo list's before anything else can fail.
    for (const i of made) this.pipes.push({ tfds: [readI32(b, 8 * i), readI32(b, 8 * i + 4)], rfd: -1, capacity: 0 });
    const pidfd = pidfdOpen(inj.pid);
    try {
      for (const pipe of this.pipes) {
        pipe.rfd = pidfdGetfd(pidfd, pipe.tfds[0]);
        for (let size = pipeBytes(); size > 4096; size >>= 1) {
          try {
            rawSyscall('fcntl', pipe.rfd, F_SETPIPE_SZ, size);
            break;
          } catch { /* EPERM: over the user's pipe limits; try half */ }
        }
        pipe.capacity = Number(rawSyscall('fcntl', pipe.rfd, F_GETPIPE_SZ, 0));
      }
    } finally {
      closeSync(pidfd);
    }
  }

  /**
   * The batch runner's area, or undefined where the task refuses it (a seccomp filter against mmap
   * or mprotect, no hole): pages then move one pipe per stop. A half-made area stays in the undo list.
   */
  private tryBatchArea(maps: readonly Area[], pipes: number, iovPerPipe: number): BatchArea | undefined {
    try {
      return mapBatchArea(this.pi.inj, this.pi.undo, maps, BATCH_TABLE_PAGES, pipes * iovPerPipe * 16);
    } catch (e) {
      if (e instanceof InjectError) return undefined;
      throw e;
    }
  }

  /** Bytes one move() takes at most. */
  get capacity(): number {
    return this.pipes.reduce((n, p) => n + p.capacity, 0);
  }

  /** Iovecs one move() takes at most. */
  get maxIov(): number {
    return this.pipes.length * this.iovPerPipe;
  }

  /** Moves the ranges (page-aligned, at most maxIov, at most `capacity` bytes) to drainTo, in order. */
  move(ranges: { addr: bigint; len: number }[]): void {
    const { inj } = this.pi;
    let first = 0;
    let skip = 0; // bytes of ranges[first] already moved
    while (first < ranges.length) {
      // Fill the pipes in order: pipe i gets the next piece of the ranges up to its capacity.
      // Only the iovecs written below are sent: the buffer is reused unzeroed.
      const iov = (this.iov ??= Buffer.allocUnsafe(this.pipes.length * this.iovPerPipe * 16));
      const calls: { name: string; args: (bigint | number)[] }[] = [];
      const asked: number[] = [];
      let r = first;
      let off = skip;
      for (let i = 0; i < this.pipes.length && r < ranges.length; i++) {
        let room = this.pipes[i]!.capacity;
        let n = 0;
        let bytes = 0;
        while (r < ranges.length && room > 0 && n < this.iovPerPipe) {
          const len = Math.min(ranges[r]!.len - off, room);
          iovecBytes(off === 0 ? ranges[r]!.addr : ranges[r]!.addr + BigInt(off), len, iov, (i * this.iovPerPipe + n) * 16);
          n++;
          bytes += len;
          room -= len;
          off += len;
          if (off === ranges[r]!.len) { r++; off = 0; }
        }
        calls.push({ name: 'vmsplice', args: [this.pipes[i]!.tfds[1], this.iovAt + BigInt(i * this.iovPerPipe * 16), n, SPLICE_F_NONBLOCK] });
        asked.push(bytes);
      }
      const used = (calls.length - 1) * this.iovPerPipe * 16 + Number(calls[calls.length - 1]!.args[2]) * 16;
      if (processVmWritev(inj.pid, this.iovAt, iov.subarray(0, used)) !== used) {
        throw new DumpError('FAILED', `cannot write cryo's iovecs into task ${inj.pid}`);
      }
      const got = this.batch.runAll(calls).map(Number);
      if (got[0] === 0) throw new DumpError('FAILED', `vmsplice injected into task ${inj.pid} moved no pages`);
      // Pages go to the file in order: after a pipe that took less than asked, later pipes' pages
      // are dropped and asked for again.
      let short = false;
      for (let i = 0; i < got.length; i++) {
        if (short) {
          this.drop(this.pipes[i]!.rfd, got[i]!);
          continue;
        }
        this.drainTo(this.pipes[i]!.rfd, got[i]!);
        let left = got[i]!;
        while (left > 0 && first < ranges.length) {
          const rest = ranges[first]!.len - skip;
          if (left >= rest) { left -= rest; first++; skip = 0; } else { skip += left; left = 0; }
        }
        if (got[i]! < asked[i]!) short = true;
      }
    }
  }

  private devNull(): number {
    if (this.nullFd < 0) this.nullFd = openSync('/dev/null', 'w');
    return this.nullFd;
  }

  /** Empties `bytes` of the pipe into /dev/null. */
  private drop(rfd: number, bytes: number): void {
    spliceAll(rfd, this.devNull(), bytes, 'of dropped pages into /dev/null');
  }

  /**
   * Closes cryo's copy of the pipe's read end and the pipe's ends in the task, each end once (the
   * undo list, which may call this again after a failure, skips what is closed).
   */
  private closePipe(p: TaskPipe): void {
    if (p.rfd >= 0) closeSync(p.rfd);
    p.rfd = -1;
    let failed: unknown;
    for (const k of [0, 1] as const) {
      if (p.tfds[k] < 0) continue;
      try {
        this.pi.inj.call('close', p.tfds[k]);
        p.tfds[k] = -1;
      } catch (e) {
        if (this.closedMaybe && e instanceof InjectError && e.errnoName === 'EBADF') { p.tfds[k] = -1; continue; }
        failed ??= e; // the other end all the same
      }
    }
    if (failed !== undefined) throw failed;
  }

  /** Closes the task's ends of every pipe (the undo step; cryo's copies close in release()). */
  private closeInTask(): void {
    let failed: unknown;
    for (const p of this.pipes) {
      try {
        this.closePipe(p);
      } catch (e) {
        failed ??= e; // close the others all the same
      }
    }
    if (failed !== undefined) throw failed;
  }

  /** The pages are moved: the pipes and the batch area leave the task. On failure the undo list does it. */
  close(): void {
    // In one stop of the task while the batch runner is there (two per pipe otherwise). A failure
    // there fails the dump; the undo list closes what it left one by one, an EBADF then meaning closed.
    const open = this.pipes.flatMap((p) => p.tfds.filter((fd) => fd >= 0));
    if (this.area !== undefined && open.length > 1) {
      try {
        this.batch.runAll(open.map((fd) => ({ name: 'close', args: [fd] })));
      } catch (e) {
        this.closedMaybe = true;
        throw e;
      }
      for (const p of this.pipes) p.tfds = [-1, -1];
    }
    this.closeInTask();
    this.area?.unmap();
    this.dropUndo();
    this.release();
  }

  /** Closes cryo's own descriptors (the copies of the read ends, /dev/null), whatever happened. */
  release(): void {
    for (const p of this.pipes) {
      if (p.rfd >= 0) closeSync(p.rfd);
      p.rfd = -1;
    }
    if (this.nullFd >= 0) closeSync(this.nullFd);
    this.nullFd = -1;
  }
}
