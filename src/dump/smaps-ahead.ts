/**
 * /proc/PID/smaps read before the freeze (cryo migrate reads it while the task still runs, beside
 * its hashing of the last pre-dump). The dump wants only its VmFlags, but reading it walks every
 * present page of the task for RSS and PSS: 40-57 ms at 4 GiB, all inside the freeze.
 *
 * In the freeze the dump takes the VMAs read ahead if they still describe the task: /proc/PID/maps,
 * read while frozen (no page walk), shows the same mappings line for line (addresses, protection,
 * offset, file, name) and the locked size (VmLck: mlock and munlock) is unchanged. Otherwise it
 * reads smaps again. Not seen this way: flags changed on whole mappings, no line of maps moving,
 * between the read and the freeze (madvise or a userfaultfd registration covering whole VMAs).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { parseSmaps, procPath, readProcTextLater, readStatus, type Vma } from '../proc/index.js';

interface ReadAhead {
  vmas: Vma[];
  vmLck: string | undefined;
}

export class SmapsAhead {
  private constructor(private readonly reads: ReadonlyMap<number, Promise<ReadAhead | undefined>>) {}

  /** Starts reading smaps of `pid` and its descendants on the thread pool. */
  static start(pid: number): SmapsAhead {
    const reads = new Map<number, Promise<ReadAhead | undefined>>();
    for (const p of treeOf(pid)) {
      let vmLck: string | undefined;
      try { vmLck = readStatus(p).raw.VmLck; } catch { continue; }
      const r = readProcTextLater(procPath(p, 'smaps')).then((text) => ({ vmas: parseSmaps(text), vmLck }), () => undefined);
      reads.set(p, r);
    }
    return new SmapsAhead(reads);
  }

  /**
   * Resolves once every read has ended. Awaited before the freeze: a read still walking the task's
   * pages holds its mmap lock, which the dump's first injected mmap would wait for.
   */
  async settled(): Promise<void> {
    await Promise.all(this.reads.values());
  }

  /** The VMAs read ahead for `pid` if they still describe it (`maps` and `vmLck` read while it is frozen), else undefined. */
  async take(pid: number, maps: readonly Vma[], vmLck: string | undefined): Promise<Vma[] | undefined> {
    const ahead = await this.reads.get(pid);
    if (ahead === undefined || ahead.vmLck !== vmLck || ahead.vmas.length !== maps.length) return undefined;
    return ahead.vmas.every((v, i) => sameMapping(v, maps[i]!)) ? ahead.vmas : undefined;
  }
}

function sameMapping(a: Vma, b: Vma): boolean {
  return a.start === b.start && a.end === b.end && a.read === b.read && a.write === b.write && a.exec === b.exec
    && a.shared === b.shared && a.offset === b.offset && a.devMajor === b.devMajor && a.devMinor === b.devMinor
    && a.inode === b.inode && a.name === b.name && a.deleted === b.deleted;
}

/** `pid` and its descendants as /proc shows them now (children of every thread). */
function treeOf(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop()!;
    out.push(p);
    let tids: string[];
    try { tids = readdirSync(procPath(p, 'task')); } catch { continue; }
    for (const t of tids) {
      try {
        todo.push(...readFileSync(procPath(p, `task/${t}/children`), 'utf8').split(' ').filter((s) => s !== '').map(Number));
      } catch { /* gone */ }
    }
  }
  return out;
}

