// cryo's own areas in a task being restored: scratch pages (paths, structs, argument blocks) and the
// arch's batch runner with its syscall table, mapped in a hole of both the stub's and the dumped
// layout and removed again before the task resumes.
import { findHole, injectMmap, SyscallBatch, type BatchPlace } from '../inject/index.js';
import { readMaps } from '../proc/index.js';
import { processVmWritev } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { Range } from '../shared/ranges.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';
import { asVmas, big, dumpedVmas } from './dumped-layout.js';

/** Scratch pages: paths, structs (prctl_mm_map + auxv, sigactions, filters). */
const SCRATCH_PAGES = 4;

/** Maps scratch memory in a hole of the dumped layout (removed again before the task resumes). */
export function mapScratch(ctx: TaskCtx): void {
  const size = SCRATCH_PAGES * ctx.arch.pageSize;
  // A hole in both the dumped layout and the stub's, which is still there.
  const occupied = [...dumpedVmas(ctx).map((v) => ({ start: big(v.start), end: big(v.end) })), ...readMaps(ctx.pid)]
    .filter((r) => r.end <= ctx.arch.mmapTop);
  const want = findHole(asVmas(occupied), BigInt(size), BigInt(ctx.arch.pageSize), ctx.arch.mmapTop);
  const addr = BigInt.asUintN(64, injectMmap(ctx.inj, want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  ctx.scratch = { addr, size };
  ctx.inj.argArea = addr + BigInt(size - ARG_AREA);
  mapBatchArea(ctx, [...occupied, { start: addr, end: addr + BigInt(size) }]);
}

/** Bytes at the end of the scratch area kept for argument blocks (Injector.argArea). */
const ARG_AREA = 64;

/** cryo's own areas in the task (scratch, batch runner), which the stub cleanup leaves alone. */
export function ownAreas(ctx: TaskCtx): Range[] {
  const out: Range[] = [];
  if (ctx.scratch) out.push({ start: ctx.scratch.addr, end: ctx.scratch.addr + BigInt(ctx.scratch.size) });
  const b = batchAreas.get(ctx);
  if (b) out.push({ start: b.addr, end: b.addr + BigInt(b.size) });
  return out;
}

/** The batch runner's code page and table of each task being restored (see SyscallBatch). */
const batchAreas = new WeakMap<TaskCtx, { addr: bigint; size: number; place: BatchPlace }>();
/** Pages of the syscall table: 64 entries of 64 bytes per 4 KiB page. */
const BATCH_TABLE_PAGES = 16;

/** Maps the arch's batch runner (read+exec) and a table for it, when the arch has one. */
function mapBatchArea(ctx: TaskCtx, occupied: Range[]): void {
  const code = ctx.arch.syscall.batchCode;
  if (!code || process.env.CRYO_NO_BATCH === '1') return;
  const page = ctx.arch.pageSize;
  const codeSize = Math.ceil(code.length / page) * page;
  const size = codeSize + BATCH_TABLE_PAGES * page;
  const want = findHole(asVmas(occupied), BigInt(size), BigInt(page), ctx.arch.mmapTop);
  const addr = BigInt.asUintN(64, injectMmap(ctx.inj, want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  if (processVmWritev(ctx.pid, addr, code) !== code.length) throw new RestoreError('FAILED', `cannot write cryo's batch runner into task ${ctx.pid}`);
  ctx.call('mprotect', addr, codeSize, PROT_READ | PROT_EXEC);
  batchAreas.set(ctx, { addr, size, place: { code: addr, table: addr + BigInt(codeSize), tableSize: BATCH_TABLE_PAGES * page } });
}

/** A batch of injected calls for `ctx` (one call at a time where the arch has no batch runner). */
export function batchFor(ctx: TaskCtx): SyscallBatch {
  return new SyscallBatch(() => ctx.inj, batchAreas.get(ctx)?.place ?? { code: undefined, table: 0n, tableSize: 0 });
}

export function unmapScratch(ctx: TaskCtx): void {
  const area = batchAreas.get(ctx);
  if (area) {
    ctx.call('munmap', area.addr, area.size);
    batchAreas.delete(ctx);
  }
  if (!ctx.scratch) return;
  ctx.call('munmap', ctx.scratch.addr, ctx.scratch.size);
  ctx.scratch = undefined;
  ctx.inj.argArea = undefined;
}
