// Dump: the memory tags of a frozen process (aarch64 MTE) into cryo-mtags-PID.img, for the
// architectures with an Arch.memoryTags. Read after the pages: reading tags faults absent pages in
// (as the zero page), which must not change what the page scan saw.
import path from 'node:path';
import type { MemoryTagSpec } from '../arch/types.js';
import { cryoMtagsImage, writeCryoMtags, type MemoryTags } from '../images/cryo-mtags.js';
import { addressOf, iovecBytes, ptraceRequest, readU64 } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import type { DumpVma } from './vmas.js';

/** Pages read with one ptrace call. */
const CHUNK_PAGES = 64;

/** Tags of `count` granules from `addr` of stopped task `pid`, one byte each (the peek may return fewer per call). */
export function peekTags(pid: number, spec: MemoryTagSpec, addr: bigint, count: number): Buffer {
  const out = Buffer.alloc(count);
  for (let done = 0; done < count;) {
    const iov = iovecBytes(addressOf(out) + BigInt(done), count - done);
    ptraceRequest(spec.peekRequest, pid, addr + BigInt(done * spec.granule), iov, 'memory tags');
    const got = Number(readU64(iov, 8));
    if (got === 0) throw new Error(`no memory tags at 0x${(addr + BigInt(done * spec.granule)).toString(16)}`);
    done += got;
  }
  return out;
}

/** Writes DIR/cryo-mtags-PID.img when `pid` has tagged mappings; returns its path, or undefined. */
export function dumpMemoryTags(pid: number, vmas: readonly DumpVma[], spec: MemoryTagSpec, pageSize: number, dir: string): string | undefined {
  const tagged = vmas.filter((d) => d.vma.smaps?.vmFlags.includes(spec.vmFlag));
  if (tagged.length === 0) return undefined;
  const perPage = pageSize / spec.granule;
  const t: MemoryTags = { granule: spec.granule, areas: [], runs: [] };
  for (const { vma } of tagged) {
    t.areas.push({ start: vma.start, end: vma.end });
    for (let at = vma.start; at < vma.end;) {
      const pages = Math.min(CHUNK_PAGES, Number((vma.end - at) / BigInt(pageSize)));
      let tags: Buffer;
      try {
        tags = peekTags(pid, spec, at, pages * perPage);
      } catch (e) {
        throw new DumpError('FAILED', `cannot read the ${spec.feature} tags of task ${pid} at 0x${at.toString(16)}: ${(e as Error).message}`, { cause: e });
      }
      // Pages with a non-zero tag, consecutive ones as one run.
      for (let p = 0; p < pages; p++) {
        const page = tags.subarray(p * perPage, (p + 1) * perPage);
        if (page.every((b) => b === 0)) continue;
        const addr = at + BigInt(p * pageSize);
        const last = t.runs[t.runs.length - 1];
        if (last !== undefined && last.addr + BigInt(last.tags.length * spec.granule) === addr) last.tags = Buffer.concat([last.tags, page]);
        else t.runs.push({ addr, tags: Buffer.from(page) });
      }
      at += BigInt(pages * pageSize);
    }
  }
  writeCryoMtags(dir, pid, t);
  return path.join(dir, cryoMtagsImage(pid));
}
