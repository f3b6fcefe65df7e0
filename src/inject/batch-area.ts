/**
 * The batch runner (SyscallAbi.batchCode) in a task cryo dumps: one fresh mapping in a hole of its
 * address space (a free page on both sides, as the scratch page), holding the code (read+exec), the
 * table of calls and room the caller asks for (e.g. iovecs). The task's own memory is never
 * written. The munmap is recorded in the undo list the moment the area exists, so every way out of
 * a dump (failure, abort, success) removes it. Where the task's calls end in rt_sigreturn, the area
 * also holds the runner that ends so, with its socket pair (batch-park.ts).
 */
import { processVmWritev } from '../sys/index.js';
import { ENTRY_BYTES, type BatchPlace } from './batch.js';
import { closePark, openPark, type ParkFds } from './batch-park.js';
import { InjectError } from './errors.js';
import type { Injector } from './injector.js';
import { injectMmap } from './mmap.js';
import { findHole, type Area } from './scratch.js';
import type { UndoList } from './undo.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE } from '../arch/mman.js';


export interface BatchArea {
  /** Where the SyscallBatch of this area runs (code undefined: the arch has no batch runner). */
  readonly place: BatchPlace;
  /** The caller's room: `extraBytes` writable bytes. */
  readonly extra: bigint;
  /** Unmaps the area now (the undo step is dropped); idempotent. */
  unmap(): void;
}

/**
 * Maps the batch runner, `tablePages` pages of table and `extraBytes` of room into the task, or
 * returns undefined where the arch has no batch runner (or CRYO_NO_BATCH=1). `occupied` is the
 * task's address space as read after cryo's own areas were mapped.
 */
export function mapBatchArea(inj: Injector, undo: UndoList, occupied: readonly Area[], tablePages: number, extraBytes: number): BatchArea | undefined {
  const code = inj.arch.syscall.batchCode;
  if (!code || process.env.CRYO_NO_BATCH === '1') return undefined;
  // The runner that ends in the thread's own state, after the other (CRYO_BATCH_ENDING=off: the tests' way to show what it prevents).
  const parked = inj.endsCalls && process.env.CRYO_BATCH_ENDING !== 'off' ? inj.arch.syscall.batchThenSigreturn : undefined;
  const parkedAt = Math.ceil(code.length / 16) * 16;
  const codes = parked ? Buffer.concat([code, Buffer.alloc(parkedAt - code.length), parked]) : code;
  const page = inj.arch.pageSize;
  const codeSize = Math.ceil(codes.length / page) * page;
  const tableSize = tablePages * page;
  const size = codeSize + tableSize + Math.ceil(extraBytes / page) * page;
  const want = findHole(occupied, BigInt(size), BigInt(page), inj.arch.mmapTop);
  const addr = BigInt.asUintN(64, injectMmap(inj, want, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
  let mapped = true;
  const held: ParkFds = { task: [], own: -1 };
  const unmapNow = () => {
    if (!mapped) return;
    closePark(inj, held);
    inj.call('munmap', addr, size);
    mapped = false;
  };
  const drop = undo.push(`unmap cryo's batch runner at 0x${addr.toString(16)} in task ${inj.pid}`, unmapNow);
  if (processVmWritev(inj.pid, addr, codes) !== codes.length) throw new InjectError('NO_SCRATCH', `cannot write cryo's batch runner into task ${inj.pid}`);
  inj.call('mprotect', addr, codeSize, PROT_READ | PROT_EXEC);
  // The park's pollfd takes the table's last entry.
  const table = addr + BigInt(codeSize);
  const park = parked ? openPark(inj, held, addr + BigInt(parkedAt), table + BigInt(tableSize - ENTRY_BYTES)) : undefined;
  return {
    place: { code: addr, table, tableSize: park ? tableSize - ENTRY_BYTES : tableSize, ...(park ? { park } : {}) },
    extra: addr + BigInt(codeSize + tableSize),
    unmap() {
      unmapNow();
      drop();
    },
  };
}
