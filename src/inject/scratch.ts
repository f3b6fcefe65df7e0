/**
 * A scratch page in the task for the results of injected syscalls (rt_sigaction's old action,
 * sigaltstack, getitimer, ...). Mapped by an injected mmap in a hole with a free page on both
 * sides, so it never merges with the task's own mappings and can be told apart and removed
 * exactly; unmapped again through the undo list.
 */
import { processVmReadv } from '../sys/index.js';
import { inAddressOrder, rangeStart } from '../proc/index.js';
import { InjectError, syscallFailed } from './errors.js';
import type { Injector } from './injector.js';
import type { UndoList } from './undo.js';
import { injectMmap, mmapCallOf, type MmapArgs } from './mmap.js';
import type { InjectedCall } from './steps.js';
import { MAP_ANONYMOUS, MAP_FIXED_NOREPLACE, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../arch/mman.js';

/** A range of the address space (a VMA or one of cryo's areas). */
export interface Area { readonly start: bigint; readonly end: bigint }


export interface Scratch {
  readonly addr: bigint;
  readonly size: number;
  /**
   * Room mapped above the scratch area by its own mmap (startScratch's `roomBytes`: a batch area's
   * table, one injected mmap less); undefined: none. Its mapping ends at `room.end`.
   */
  readonly room?: Area;
  /** Reads `len` bytes at `offset` of the scratch area. */
  read(offset: number, len: number): Buffer;
  /** Drops its munmap from the undo list: another step unmaps it (CallEnding.unmapsAlso). */
  dropUnmap(): void;
}

/** Highest address of a hole of `size` bytes with a free page before and after, between `floor` and `ceiling` (the arch's mmapTop). */
export function findHole(maps: readonly Area[], size: bigint, page: bigint, ceiling: bigint, floor = 0x10000n): bigint {
  const sorted = inAddressOrder(maps.filter((v) => v.end <= ceiling), rangeStart);
  // Search top-down from below the highest mapping under the ceiling, like the kernel's mmap (a
  // task with 10,000 mappings side by side: every gap looked at, so no BigInt made per gap).
  const need = size + 2n * page;
  for (let i = sorted.length - 1; i >= 0; i--) {
    const lo = i > 0 ? sorted[i - 1]!.end : floor;
    const hi = sorted[i]!.start;
    if (hi >= lo + need && hi - page - size >= floor) return hi - page - size;
  }
  throw new InjectError('NO_SCRATCH', `no free hole of ${size} bytes in the address space for cryo's scratch page`);
}

/** The scratch area at `addr` of process `pid` (one mapped there, or its copy in a fork of that process, whose unmap nobody drops). */
export function scratchAt(pid: number, addr: bigint, size: number, dropUnmap = (): void => {}, room?: Area): Scratch {
  return {
    addr,
    size,
    ...(room ? { room } : {}),
    dropUnmap,
    read(offset, len) {
      const b = processVmReadv(pid, addr + BigInt(offset), len);
      if (b.length !== len) throw new InjectError('NO_SCRATCH', `cannot read cryo's scratch page in task ${pid}`);
      return b;
    },
  };
}

export function mapScratch(inj: Injector, undo: UndoList, maps: readonly Area[], pageSize: number, pages = 1): Scratch {
  return startScratch(inj, undo, maps, pageSize, pages).finish();
}

/**
 * mapScratch in two halves, so that a tree's processes run the mmap at the same time
 * (Injector.rawEach): `mmap` is that call where its arguments go in registers; `finish` takes its
 * raw result, or runs it itself when given none.
 */
export function startScratch(inj: Injector, undo: UndoList, maps: readonly Area[], pageSize: number, pages = 1, roomBytes = 0): { mmap?: InjectedCall; finish(raw?: bigint): Scratch } {
  const size = pageSize * pages;
  const mapped = size + Math.ceil(roomBytes / pageSize) * pageSize;
  const want = findHole(maps, BigInt(mapped), BigInt(pageSize), inj.arch.mmapTop);
  const args: MmapArgs = [want, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0];
  const c = mmapCallOf(inj, args);
  const finish = (raw?: bigint): Scratch => {
    if (raw !== undefined && raw < 0n && raw >= -4095n) throw syscallFailed(inj.pid, c.name, c.args, raw);
    const addr = BigInt.asUintN(64, raw ?? injectMmap(inj, ...args));
    const dropUnmap = undo.pushCall(`unmap cryo's scratch page at 0x${addr.toString(16)} in task ${inj.pid}`, { inj, name: 'munmap', args: [addr, mapped] });
    return scratchAt(inj.pid, addr, size, dropUnmap, mapped > size ? { start: addr + BigInt(size), end: addr + BigInt(mapped) } : undefined);
  };
  return c.argStruct === undefined ? { mmap: { inj, name: c.name, args: c.args }, finish } : { finish };
}
