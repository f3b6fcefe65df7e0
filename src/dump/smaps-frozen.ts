/**
 * /proc/PID/smaps read on libuv's thread pool while the task is frozen: its page walk for the sizes
 * is the longest read of the freeze (10,000 mappings: ~50 ms in the kernel), and of it the dump
 * wants only VmFlags, first in its memory step. Meanwhile cryo reads the task's threads by
 * injected calls, mapping its own areas into holes of the address space: the read may show them,
 * so its VmFlags are taken only where the mappings /proc/PID/maps showed before cryo mapped
 * anything (readMaps, same freeze) are all in it, line for line; anything else (an area of cryo's
 * merged with a mapping of the task beside it, a failed read) and the dump reads smaps again.
 */
import { addSmapsOf, readSmapsLater, type SmapsRead, type Vma } from '../proc/index.js';

export class SmapsWhileFrozen {
  private constructor(private readonly read: Promise<SmapsRead | undefined>) {}

  /** Starts the read; `pid` must be frozen (and stay so until take). */
  static start(pid: number): SmapsWhileFrozen {
    return new SmapsWhileFrozen(readSmapsLater(pid).catch(() => undefined));
  }

  /** `maps` (read before cryo's first mapping) with their smaps parts; undefined when they are not all in the read. */
  async take(maps: readonly Vma[]): Promise<Vma[] | undefined> {
    const read = await this.read;
    return read !== undefined && addSmapsOf(maps, read) ? [...maps] : undefined;
  }
}
