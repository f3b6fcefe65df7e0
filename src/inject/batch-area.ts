/**
 * The batch runner (SyscallAbi.batchCode) in a task cryo dumps: one fresh mapping in a hole of its
 * address space (a free page on both sides, as the scratch page), holding the code (read+exec), the
 * table of calls and room the caller asks for (e.g. iovecs). The task's own memory is never
 * written. The munmap is recorded in the undo list the moment the area exists, so every way out of
 * a dump (failure, abort, success) removes it. Where the task's calls end in rt_sigreturn, the area
 * also holds the runner that ends so, with its socket pair (batch-park.ts).
 */
import { processVmWritev } from '../sys/index.js';
import { ENTRY_BYTES, SyscallBatch, entryRan, type BatchPlace } from './batch.js';
import { closeParkSteps, openParkSteps, PARK_BYTES, pollfdAt, type BatchPark, type ParkFds } from './batch-park.js';
import { InjectError } from './errors.js';
import type { Injector } from './injector.js';
import { mmapStep } from './mmap.js';
import { runSteps, type Steps } from './steps.js';
import { findHole, type Area } from './scratch.js';
import type { UndoList } from './undo.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';


/** fcntl(2)'s F_DUPFD_CLOEXEC (the same on every Linux ABI). */
const F_DUPFD_CLOEXEC = 1030;

export interface BatchArea {
  /** The area in the task (to leave out of the dumped memory). */
  readonly start: bigint;
  readonly end: bigint;
  /** Where the SyscallBatch of this area runs (code undefined: the arch has no batch runner). */
  readonly place: BatchPlace;
  /** The caller's room: `extraBytes` writable bytes. */
  readonly extra: bigint;
  readonly extraBytes: number;
  /**
   * `n` more ends of the park, for threads parked at the same time (runTogether): each a descriptor
   * of its own of the task's end (a thread woken by cryo's death closes its own, never another's),
   * their pollfds written from `at` on (PARK_BYTES each). Fewer where the task has no descriptor
   * free; none without a park.
   */
  moreParks(n: number, at: bigint): BatchPark[];
  /** Closes moreParks' descriptors (one batch). */
  closeParks(parks: readonly BatchPark[]): void;
  /**
   * cryo's descriptors in the task's table now (the park's ends): processes sharing the table
   * (CLONE_FILES) see them, and a file dump of that table leaves them out.
   */
  taskFds(): readonly number[];
  /** Unmaps the area now (the undo step is dropped); idempotent. */
  unmap(): void;
  /** unmap as steps (steps.ts): a tree's processes unmap theirs in lockstep. */
  unmapSteps(): Steps<void>;
}

/**
 * The batch runners of `inj`'s arch (SyscallAbi.batchCode, then batchThenSigreturn at `parkedAt`),
 * as mapBatchArea places them; undefined where there is none (or CRYO_NO_BATCH=1).
 */
export function batchRunners(inj: Injector): { codes: Buffer; parkedAt: number } | undefined {
  const { batchCode: code, batchThenSigreturn: parked } = inj.arch.syscall;
  if (!code || process.env.CRYO_NO_BATCH === '1') return undefined;
  const parkedAt = Math.ceil(code.length / 16) * 16;
  return { codes: parked ? Buffer.concat([code, Buffer.alloc(parkedAt - code.length), parked]) : code, parkedAt };
}

/**
 * Maps the batch runner, `tablePages` pages of table and `extraBytes` of room into the task, or
 * returns undefined where the arch has no batch runner (or CRYO_NO_BATCH=1). `occupied` is the
 * task's address space as read after cryo's own areas were mapped. `runnersAt`: where batchRunners'
 * code is in the task already (the call-ending area's): the area is then only table and room,
 * with no mprotect call.
 */
export function mapBatchArea(inj: Injector, undo: UndoList, occupied: readonly Area[], tablePages: number, extraBytes: number, runnersAt?: bigint): BatchArea | undefined {
  return runSteps(batchAreaSteps(inj, undo, occupied, tablePages, extraBytes, runnersAt));
}

/** The bytes of a batch area with `tablePages` of table and `extraBytes` of room, its runners elsewhere (batchAreaSteps' `within`). */
export const batchAreaBytes = (pageSize: number, tablePages: number, extraBytes: number): number => (tablePages + Math.ceil(extraBytes / pageSize)) * pageSize;

/**
 * mapBatchArea as steps (steps.ts): a tree's processes map theirs in lockstep. `within`: room of
 * cryo's mapped already (Scratch.room, batchAreaBytes long) for an area whose runners are at
 * `runnersAt`: no mmap, and its unmap leaves the room to the mapping's own munmap.
 */
export function* batchAreaSteps(inj: Injector, undo: UndoList, occupied: readonly Area[], tablePages: number, extraBytes: number, runnersAt?: bigint, within?: Area): Steps<BatchArea | undefined> {
  const runners = batchRunners(inj);
  if (!runners) return undefined;
  const { codes, parkedAt } = runners;
  // The runner that ends in the thread's own state (CRYO_BATCH_ENDING=off: the tests' way to show what it prevents).
  const parked = inj.endsCalls && process.env.CRYO_BATCH_ENDING !== 'off' && inj.arch.syscall.batchThenSigreturn !== undefined;
  const page = inj.arch.pageSize;
  const codeSize = runnersAt === undefined ? Math.ceil(codes.length / page) * page : 0;
  const tableSize = tablePages * page;
  const size = codeSize + batchAreaBytes(page, tablePages, extraBytes);
  // The caller mapped `within` batchAreaBytes long for these pages and bytes.
  const inRoom = within !== undefined && codeSize === 0;
  const addr = inRoom ? within.start : BigInt.asUintN(64, yield* mmapStep(inj, [findHole(occupied, BigInt(size), BigInt(page), inj.arch.mmapTop), size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0]));
  const codeAt = runnersAt ?? addr;
  let mapped = true;
  const held: ParkFds = { task: [], own: -1 };
  let park: BatchPark | undefined;
  // The task's copy of cryo's end, once a batch closed it (BatchPark.closeFirst), is no longer held.
  const heldTask = (): number[] => {
    const first = park?.closeFirst;
    if (first?.launched && held.task.includes(first.fd) && entryRan(inj.pid, first.at)) held.task = held.task.filter((fd) => fd !== first.fd);
    return held.task;
  };
  function* unmapNow(): Steps<void> {
    if (!mapped) return;
    // A batch still parked here waits for cryo's end: closed first, it would run off on its own.
    // Its failure is moot here (the dump failed already; the task is stopped again either way).
    try { inj.settleInFlight(); } catch { /* see above */ }
    heldTask();
    yield* closeParkSteps(inj, held);
    if (!inRoom) yield { inj, name: 'munmap', args: [addr, size] };
    mapped = false;
  }
  const drop = undo.push(`${inRoom ? 'close the batch socket of' : 'unmap'} cryo's batch runner at 0x${addr.toString(16)} in task ${inj.pid}`, () => runSteps(unmapNow()));
  if (runnersAt === undefined) {
    if (processVmWritev(inj.pid, addr, codes) !== codes.length) throw new InjectError('NO_SCRATCH', `cannot write cryo's batch runner into task ${inj.pid}`);
    yield { inj, name: 'mprotect', args: [addr, codeSize, PROT_READ | PROT_EXEC] };
  }
  // The park's pollfd takes the table's last entry, the first parked batch's close (BatchPark.closeFirst) its first.
  const table = addr + BigInt(codeSize);
  park = parked ? yield* openParkSteps(inj, held, codeAt + BigInt(parkedAt), table + BigInt(tableSize - ENTRY_BYTES), table) : undefined;
  const place: BatchPlace = park ? { code: codeAt, table: table + BigInt(ENTRY_BYTES), tableSize: tableSize - 2 * ENTRY_BYTES, park } : { code: codeAt, table, tableSize };
  return {
    start: addr,
    end: addr + BigInt(size),
    place,
    extra: addr + BigInt(codeSize + tableSize),
    extraBytes,
    moreParks(n, at) {
      if (park === undefined || n === 0) return [];
      const fds = new SyscallBatch(() => inj, place).runEach(Array.from({ length: n }, () => ({ name: 'fcntl', args: [park.taskFd, F_DUPFD_CLOEXEC, 0] })));
      const got = fds.filter((r) => r >= 0n).map(Number);
      held.task.push(...got);
      const pfds = Buffer.alloc(got.length * PARK_BYTES);
      got.forEach((fd, i) => pollfdAt(pfds, i * PARK_BYTES, fd));
      if (processVmWritev(inj.pid, at, pfds) !== pfds.length) throw new InjectError('NO_SCRATCH', `cannot write cryo's pollfds into task ${inj.pid}`);
      return got.map((fd, i) => ({ code: park.code, pollfd: at + BigInt(i * PARK_BYTES), taskFd: fd, fd: park.fd }));
    },
    closeParks(parks) {
      if (parks.length === 0) return;
      new SyscallBatch(() => inj, place).runAll(parks.map((p) => ({ name: 'close', args: [p.taskFd] })));
      const closed = new Set(parks.map((p) => p.taskFd));
      held.task = held.task.filter((fd) => !closed.has(fd));
    },
    taskFds: () => [...heldTask()],
    unmap() {
      runSteps(this.unmapSteps());
    },
    *unmapSteps() {
      yield* unmapNow();
      drop();
    },
  };
}
