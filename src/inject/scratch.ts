/**
 * A scratch page in the task for the results of injected syscalls (rt_sigaction's old action,
 * sigaltstack, getitimer, ...). Mapped by an injected mmap in a hole with a free page on both
 * sides, so it never merges with the task's own mappings and can be told apart and removed
 * exactly; unmapped again through the undo list.
 */
import { processVmReadv } from '../sys/index.js';
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

/**
 * Highest address of a hole of `size` bytes with a free page before and after, between `floor` and
 * `ceiling` (the arch's mmapTop), among `maps` in address order. They mostly are (the task's
 * 20,000 VMAs, then cryo's few areas after them): the ordered head is walked down from its top in
 * place, the few after it sorted apart and merged in on the way; no copy of the 20,000 (4-5 calls
 * in a dump's freeze).
 */
export function findHole(maps: readonly Area[], size: bigint, page: bigint, ceiling: bigint, floor = 0x10000n): bigint {
  let head = 1;
  while (head < maps.length && maps[head - 1]!.start <= maps[head]!.start) head++;
  const tail = maps.slice(head).sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  let h = Math.min(head, maps.length) - 1;
  let t = tail.length - 1;
  // The next area down under the ceiling, as a stable sort orders them (of equal starts, the tail's first).
  const lower = (): Area | undefined => {
    for (;;) {
      if (h < 0 && t < 0) return undefined;
      const a = t >= 0 && (h < 0 || tail[t]!.start >= maps[h]!.start) ? tail[t--]! : maps[h--]!;
      if (a.end <= ceiling) return a;
    }
  };
  // Top-down from below the highest mapping under the ceiling, like the kernel's mmap.
  const need = size + 2n * page;
  for (let cur = lower(); cur !== undefined;) {
    const below = lower();
    const lo = below ? below.end : floor;
    if (cur.start >= lo + need && cur.start - page - size >= floor) return cur.start - page - size;
    cur = below;
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
