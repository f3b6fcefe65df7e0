/**
 * /proc/PID/smaps read on libuv's thread pool while the task is frozen: its page walk for the sizes
 * is the longest read of the freeze (10,000 mappings: ~50 ms in the kernel), and of it the dump
 * wants only VmFlags, first in its memory step. Meanwhile cryo reads the task's threads by
 * injected calls, mapping its own areas into holes of the address space: the read may show them,
 * so its VmFlags are taken only where the mappings /proc/PID/maps showed before cryo mapped
 * anything (readMaps, same freeze) are all in it, line for line; anything else (an area of cryo's
 * merged with a mapping of the task beside it, a failed read) and the dump reads smaps again.
 */
import { addSmapsOf, readSmapsLater, type ProcStatus, type SmapsRead, type Vma } from '../proc/index.js';

/** Page tables (VmPTE) from which the read waits for cryo's mmaps: 1 MiB, 512 MiB of address space with pages in it. */
const LONG_WALK_PTE_KB = 1024;

export class SmapsWhileFrozen {
  private constructor(private readonly read: Promise<SmapsRead | undefined>) {}

  /** Starts the read; `pid` must be frozen (and stay so until take). */
  static start(pid: number): SmapsWhileFrozen {
    return new SmapsWhileFrozen(readSmapsLater(pid).catch(() => undefined));
  }

  /**
   * Whether the read starts only once cryo's areas are mapped (then it shows them too: take passes
   * over them). smaps walks every page table entry for its sizes, holding the task's mmap lock
   * through a VMA: cryo's injected mmaps wait for a large one's walk (anon-1g: the inject stage
   * +10-30 ms for a 14 ms walk, sparse-8g's 8 GiB mapping 20-50 ms), while started after them it
   * runs beside the threads' reading. Many small VMAs (vmas-10k: 196 kB of page tables) keep
   * the early start: the lock is let go between them and the read is long (~40 ms).
   */
  static waitsForMmaps(status: ProcStatus): boolean {
    return parseInt(status.raw.VmPTE ?? '0', 10) >= LONG_WALK_PTE_KB;
  }

  /** `maps` (read before cryo's first mapping) with their smaps parts; undefined when they are not all in the read. */
  async take(maps: readonly Vma[]): Promise<Vma[] | undefined> {
    const read = await this.read;
    return read !== undefined && addSmapsOf(maps, read) ? [...maps] : undefined;
  }
}
