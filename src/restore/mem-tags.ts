// Restore: the memory tags of cryo-mtags-PID.img (aarch64 MTE) put back once the pages are in and
// before the task runs: each tagged area is given its tags again (mprotect with the tag bit, which
// starts every granule at tag 0), then the saved runs are written by ptrace.
import type { Arch } from '../arch/types.js';
import type { MessageValue } from '../images/value.js';
import { readCryoMtags, type MemoryTags } from '../images/cryo-mtags.js';
import { addressOf, iovecBytes, ptraceRequest, readU64 } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';

const hex = (v: bigint) => `0x${v.toString(16)}`;

/** The process's memory tags, or undefined; a damaged image is refused. */
function tagsOf(dir: string, pid: number): MemoryTags | undefined {
  try {
    return readCryoMtags(dir, pid);
  } catch (e) {
    throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${(e as Error).message}`);
  }
}

/** Preflight: a process with tagged memory needs a CPU and kernel that keep tags. */
export function checkMemoryTags(dir: string, pid: number, arch: Arch): void {
  const t = tagsOf(dir, pid);
  if (t === undefined) return;
  const spec = arch.memoryTags;
  if (spec === undefined || !spec.present) {
    throw new RestoreError('CPU_FEATURE', `process ${pid} has memory with ${spec?.feature ?? 'memory tags'} (cryo-mtags-${pid}.img), which this CPU or kernel lacks: restore it on one that has it`);
  }
  if (t.granule !== spec.granule) throw new RestoreError('IMAGE_CORRUPT', `cryo-mtags-${pid}.img: a tag granule of ${t.granule} bytes, not ${spec.granule}: the image is damaged`);
}

export function restoreMemoryTags(ctx: TaskCtx): void {
  const spec = ctx.arch.memoryTags;
  const t = tagsOf(ctx.img.dir, ctx.pid);
  if (t === undefined || spec === undefined) return;
  const vmas = (ctx.img.mm.vmas as MessageValue[] | undefined) ?? [];
  for (const a of t.areas) {
    const v = vmas.find((x) => BigInt(x.start as bigint) <= a.start && a.end <= BigInt(x.end as bigint));
    if (v === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `cryo-mtags-${ctx.pid}.img: tagged area ${hex(a.start)}-${hex(a.end)} is no mapping of mm-${ctx.pid}.img`);
    ctx.call('mprotect', a.start, a.end - a.start, Number(v.prot) | spec.protBit);
  }
  for (const r of t.runs) {
    const end = r.addr + BigInt(r.tags.length * spec.granule);
    if (!t.areas.some((a) => a.start <= r.addr && end <= a.end)) {
      throw new RestoreError('IMAGE_INCONSISTENT', `cryo-mtags-${ctx.pid}.img: tags for ${hex(r.addr)}-${hex(end)}, outside every tagged area`);
    }
    for (let done = 0; done < r.tags.length;) {
      const iov = iovecBytes(addressOf(r.tags) + BigInt(done), r.tags.length - done);
      const at = r.addr + BigInt(done * spec.granule);
      ptraceRequest(spec.pokeRequest, ctx.tid, at, iov, `memory tags at ${hex(at)}`);
      const put = Number(readU64(iov, 8));
      if (put === 0) throw new RestoreError('FAILED', `the kernel took no memory tags at ${hex(at)}`);
      done += put;
    }
  }
}
