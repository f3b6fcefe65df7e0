// cryo's own area in a task being restored: scratch pages (paths, structs, argument blocks) and the
// arch's batch runner with its syscall table, mapped in a hole of both the stub's and the dumped
// layout and removed again before the task resumes.
import { ENTRY_BYTES, SyscallBatch, type BatchPlace } from '../inject/index.js';
import { readMaps } from '../proc/index.js';
import { processVmWritev } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { Range } from '../shared/ranges.js';
import { PROT_EXEC, PROT_READ } from '../arch/mman.js';
import { big, dumpedVmas, mapOwnArea } from './dumped-layout.js';

/** Scratch pages: paths, structs (prctl_mm_map + auxv, sigactions, filters). */
const SCRATCH_PAGES = 4;

/**
 * Maps scratch memory in a hole of the dumped layout, with the arch's batch runner and its table
 * right after it (one mapping, one munmap at the end; removed again before the task resumes).
 */
export function mapScratch(ctx: TaskCtx): void {
  if (areas.has(ctx)) return; // its copy of its parent's (inheritScratch)
  const page = ctx.arch.pageSize;
  const scratchSize = SCRATCH_PAGES * page;
  const code = process.env.CRYO_NO_BATCH === '1' ? undefined : ctx.arch.syscall.batchCode;
  const codeSize = code ? Math.ceil(code.length / page) * page : 0;
  const tableSize = code ? BATCH_TABLE_PAGES * page : 0;
  const size = scratchSize + codeSize + tableSize;
  // A hole in both the dumped layout and the stub's, which is still there.
  const addr = mapOwnArea(ctx, size, readMaps(ctx.pid));
  ctx.scratch = { addr, size: scratchSize };
  ctx.inj.argArea = addr + BigInt(scratchSize - ARG_AREA);
  areas.set(ctx, { addr, size });
  if (!code) return;
  const at = addr + BigInt(scratchSize);
  if (processVmWritev(ctx.pid, at, code) !== code.length) throw new RestoreError('FAILED', `cannot write cryo's batch runner into task ${ctx.pid}`);
  ctx.call('mprotect', at, codeSize, PROT_READ | PROT_EXEC);
  batchPlaces.set(ctx, { code: at, table: at + BigInt(codeSize), tableSize });
}

/**
 * A child forked from its restored parent has a copy of the parent's area at the same address,
 * batch runner and all: it keeps that one (no mapping, no writing) where its own dumped layout
 * leaves the place free, and of the same ABI. Before mapScratch; returns whether it did.
 */
export function inheritScratch(child: TaskCtx, parent: TaskCtx): boolean {
  const a = areas.get(parent);
  if (a === undefined || parent.scratch === undefined || child.arch !== parent.arch || process.env.CRYO_NO_BATCH === '1') return false;
  const end = a.addr + BigInt(a.size);
  if (dumpedVmas(child).some((v) => big(v.start) < end && big(v.end) > a.addr)) return false;
  areas.set(child, a);
  const place = batchPlaces.get(parent);
  if (place) batchPlaces.set(child, place);
  child.scratch = { ...parent.scratch };
  child.inj.argArea = parent.inj.argArea;
  return true;
}

/** Bytes at the end of the scratch area kept for argument blocks (Injector.argArea). */
const ARG_AREA = 64;

/** cryo's own areas in the task (scratch, batch runner), which the stub cleanup leaves alone. */
export function ownAreas(ctx: TaskCtx): Range[] {
  const a = areas.get(ctx);
  return a ? [{ start: a.addr, end: a.addr + BigInt(a.size) }] : [];
}

/** The mapping of each task's scratch and batch runner, and where its runner and table are (see SyscallBatch). */
const areas = new WeakMap<TaskCtx, { addr: bigint; size: number }>();
const batchPlaces = new WeakMap<TaskCtx, BatchPlace>();
/** Pages of the syscall table (each page holds page / ENTRY_BYTES calls). */
const BATCH_TABLE_PAGES = 16;

/** Threads whose batches may run side by side, each on a slice of main's table (8 calls). */
export const THREAD_WAVE = 128;
const THREAD_TABLE = 8 * ENTRY_BYTES;

/**
 * The `index`th further thread of main's process runs its batches on main's runner (one address
 * space; main removes it), with a slice of the table of its own: the threads of a wave
 * (THREAD_WAVE in a row) run theirs at once.
 */
export function shareBatchArea(main: TaskCtx, thread: TaskCtx, index: number): void {
  const place = batchPlaces.get(main);
  if (!place || place.code === undefined) return;
  const slices = Math.min(THREAD_WAVE, Math.floor(place.tableSize / THREAD_TABLE));
  if (slices < THREAD_WAVE) {
    batchPlaces.set(thread, place); // too small a table to share out: one batch at a time
    return;
  }
  batchPlaces.set(thread, { code: place.code, table: place.table + BigInt((index % THREAD_WAVE) * THREAD_TABLE), tableSize: THREAD_TABLE });
}

/** A batch of injected calls for `ctx` (one call at a time where the arch has no batch runner). */
export function batchFor(ctx: TaskCtx): SyscallBatch {
  return new SyscallBatch(() => ctx.inj, batchPlaces.get(ctx) ?? { code: undefined, table: 0n, tableSize: 0 });
}

/**
 * The writable pages of the batch runner's table, free once no batch runs any more (the last
 * step puts the threads' signal frames there); undefined without a runner.
 */
export function tableRoom(ctx: TaskCtx): Range | undefined {
  const place = batchPlaces.get(ctx);
  return place?.code === undefined ? undefined : { start: place.table, end: place.table + BigInt(place.tableSize) };
}

/**
 * The end of cryo's scratch area as far as restore's calls go: no call uses it after this. Returns
 * its range for the caller to unmap once the task's threads are past their rt_sigreturn (the
 * frames may lie in it).
 */
export function releaseScratch(ctx: TaskCtx): Range[] {
  const a = areas.get(ctx);
  if (!a) return [];
  areas.delete(ctx);
  batchPlaces.delete(ctx);
  ctx.scratch = undefined;
  ctx.inj.argArea = undefined;
  return [{ start: a.addr, end: a.addr + BigInt(a.size) }];
}
