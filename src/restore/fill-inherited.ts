// The pages of the mappings a forked child keeps from its restored parent (inherited.ts): each page
// of the child's image is compared with what the mapping holds (the parent's page) and written
// only where they differ, so equal pages stay shared copy-on-write; pages the child's image does
// not have are left for the caller to drop (MADV_DONTNEED: zero again, or the file's for a private
// file mapping) in its next batch.

import { closeSync, openSync, readSync } from 'node:fs';
import { processVmWritev } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { withoutRanges, type Range } from '../shared/ranges.js';
import { hex } from './dumped-layout.js';

/** Bytes compared at a time. */
const CHUNK = 4 << 20;

/** Pages of the child's image inside an inherited mapping: [start, end) from `file` at `offset`. */
export interface InheritedRun extends Range {
  file: string;
  offset: number;
}

/** Writes the child's differing pages; returns the ranges of `inherited` its image has no page of. */
export function fillInherited(ctx: TaskCtx, inherited: readonly Range[], runs: readonly InheritedRun[], pageSize: number): Range[] {
  if (inherited.length === 0) return [];
  const fds = new Map<string, number>();
  // Not process_vm_readv: it pins the pages, and pinning a shared anonymous page unshares it (a copy).
  const mem = openSync(`/proc/${ctx.pid}/mem`, 'r');
  // As large as the largest run needs: a tree's children hold a few pages each, and 8 MiB of fresh
  // buffers per child is most of a tree restore's garbage.
  const size = Math.min(CHUNK, runs.reduce((m, r) => Math.max(m, Number(r.end - r.start)), 0));
  const wantBuf = Buffer.allocUnsafe(size);
  const haveBuf = Buffer.allocUnsafe(size);
  try {
    for (const run of runs) {
      let fd = fds.get(run.file);
      if (fd === undefined) fds.set(run.file, (fd = openSync(run.file, 'r')));
      for (let at = run.start; at < run.end;) {
        const len = Number(run.end - at < BigInt(CHUNK) ? run.end - at : BigInt(CHUNK));
        const want = wantBuf.subarray(0, len);
        if (readSync(fd, want, 0, len, run.offset + Number(at - run.start)) !== len) {
          throw new RestoreError('FAILED', `${run.file} ends early: cannot read the pages of ${hex(at)}`);
        }
        const have = haveBuf.subarray(0, len);
        if (readSync(mem, have, 0, len, at) !== len) throw new RestoreError('FAILED', `cannot read the memory of task ${ctx.pid} at ${hex(at)}`);
        writeDiffering(ctx, at, want, have, pageSize);
        at += BigInt(len);
      }
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
    closeSync(mem);
  }
  return inherited.flatMap((r) => withoutRanges(r.start, r.end, runs));
}

/** Writes the pages of `want` that differ from `have` (the task's memory at `at`), run by run. */
function writeDiffering(ctx: TaskCtx, at: bigint, want: Buffer, have: Buffer, pageSize: number): void {
  let from = -1;
  const write = (end: number) => {
    const part = want.subarray(from, end);
    if (processVmWritev(ctx.pid, at + BigInt(from), part) !== part.length) throw new RestoreError('FAILED', `cannot write the memory of task ${ctx.pid} at ${hex(at + BigInt(from))}`);
    from = -1;
  };
  for (let off = 0; off < want.length; off += pageSize) {
    const differs = want.compare(have, off, off + pageSize, off, off + pageSize) !== 0;
    if (differs && from < 0) from = off;
    if (!differs && from >= 0) write(off);
  }
  if (from >= 0) write(want.length);
}
