// The descriptors the dumped file mappings are mapped through (memory.ts mapVmas): one per file and
// access mode for all its mappings (a library has four or five), so the mmaps go into a batch. Two
// per file, alternating: mappings that touch never share one open file, or the kernel would merge
// them into one VMA where the task had two. They are opened ahead, many in one stop of the task.
import type { MessageValue } from '../images/value.js';
import type { SyscallBatch } from '../inject/index.js';
import { openImagePaths, type PathToOpen } from '../shared/image-paths.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { vmaKind } from '../shared/vma-kinds.js';
import { O_ACCMODE, O_CLOEXEC } from '../shared/constants.js';
import { big, dumpedVmas, hex } from './dumped-layout.js';
import { regFile } from './preflight.js';
import { batchFor } from './scratch.js';

/** Descriptors held at once, far below any RLIMIT_NOFILE. */
const MAX_MAPPED_FDS = 256;
/** The end of the scratch area is the injector's (argument blocks). */
const SCRATCH_RESERVED = 64;

interface FileUse extends PathToOpen {
  key: string;
}

export class MappedFiles {
  /** Each file mapping's descriptor key, in the order mapVmas meets them. */
  private readonly uses: FileUse[] = [];
  private readonly useOf = new Map<MessageValue, number>();
  private readonly fds = new Map<string, number>();

  /** `inherited`: mappings a forked child keeps from its parent (no descriptor). */
  constructor(private readonly ctx: TaskCtx, inherited: ReadonlySet<MessageValue>) {
    const ends = new Map<string, bigint>();
    for (const v of dumpedVmas(ctx)) {
      const kind = vmaKind(Number(v.status));
      if ((kind !== 'file-private' && kind !== 'file-shared') || inherited.has(v)) continue;
      const where = `the mapping at ${hex(big(v.start))}`;
      const reg = regFile(ctx.img, Number(v.shmid), where);
      const openFlags = kind === 'file-shared' ? (Number(v.fdflags ?? 0) & O_ACCMODE) : 0;
      const file = `${Number(v.shmid)}/${openFlags}`;
      const key = ends.get(`${file}/0`) === big(v.start) ? `${file}/1` : `${file}/0`;
      ends.set(key, big(v.end));
      this.useOf.set(v, this.uses.length);
      this.uses.push({ key, file: String(reg.name), flags: openFlags | O_CLOEXEC, why: where });
    }
  }

  /**
   * The descriptor to map `v` through (a file mapping). One not open yet is opened with the next
   * ones not open, in one stop; at the limit, those held are closed first (queued in `batch`).
   */
  fdFor(v: MessageValue, batch: SyscallBatch): number {
    const i = this.useOf.get(v);
    if (i === undefined) throw new Error(`internal: no descriptor planned for the mapping at ${hex(big(v.start))}`);
    const key = this.uses[i]!.key;
    const fd = this.fds.get(key);
    if (fd !== undefined) return fd;
    if (this.fds.size >= MAX_MAPPED_FDS) this.closeAll(batch);
    const ahead: FileUse[] = [];
    const seen = new Set<string>();
    for (let k = i; k < this.uses.length && this.fds.size + ahead.length < MAX_MAPPED_FDS; k++) {
      const u = this.uses[k]!;
      if (this.fds.has(u.key) || seen.has(u.key)) continue;
      seen.add(u.key);
      ahead.push(u);
    }
    // Its own batch: the calls queued in `batch` (mmaps) wait for the descriptors.
    const opened = openImagePaths(this.ctx, ahead, this.ctx.scratch!.size - SCRATCH_RESERVED, (calls) => batchFor(this.ctx).runEach(calls));
    opened.forEach((f, k) => this.fds.set(ahead[k]!.key, f));
    return this.fds.get(key)!;
  }

  /** Closes every descriptor held, queued in `batch`. */
  closeAll(batch: SyscallBatch): void {
    for (const f of this.fds.values()) batch.add('close', f);
    this.fds.clear();
  }

  /** After a failure: each descriptor held closed at once, as far as that goes. */
  closeNow(): void {
    for (const f of this.fds.values()) {
      try { this.ctx.raw('close', f); } catch { /* best effort */ }
    }
    this.fds.clear();
  }
}
