// A dumped task's memory as its images hold it, for tests that read or edit it: where the byte at a
// virtual address lies in the pages image. Pages are this kernel's size (AT_PAGESZ: Debian's
// ppc64el 6.1 kernel uses 64 KiB pages, most kernels 4 KiB), as the tests dump and read on one kernel.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, PageReader } from '../../src/images/index.js';
import type { MessageValue } from '../../src/images/value.js';
import { VMA } from '../../src/shared/vma-kinds.js';
import { AT, auxvValue, readAuxv } from '../../src/proc/auxv.js';

export const PAGE_SIZE = Number(auxvValue(readAuxv('self'), AT.AT_PAGESZ!) ?? 4096n);

/** The pages file and offset of task `pid`'s byte at `vaddr` in the dump in `dir`, or undefined when it holds no page there. */
export function dumpedByteAt(dir: string, pid: number, vaddr: bigint): { file: string; offset: number } | undefined {
  const reader = new PageReader(path.join(dir, `pagemap-${pid}.img`), undefined, PAGE_SIZE);
  try {
    for (const run of reader) {
      if (vaddr >= run.vaddr && vaddr < run.vaddr + BigInt(run.nrPages * PAGE_SIZE)) {
        return run.offset < 0 ? undefined : { file: reader.pagesPath, offset: run.offset + Number(vaddr - run.vaddr) };
      }
    }
  } finally {
    reader.close();
  }
  return undefined;
}

/** The page runs of task `pid` in the dump in `dir`, in image order. */
export function dumpedRuns(dir: string, pid: number): { vaddr: bigint; pages: number }[] {
  const reader = new PageReader(path.join(dir, `pagemap-${pid}.img`), undefined, PAGE_SIZE);
  try {
    return [...reader].map((r) => ({ vaddr: r.vaddr, pages: r.nrPages }));
  } finally {
    reader.close();
  }
}

/**
 * `n` bytes of task `pid`'s memory at `vaddr` (within one page run or mapping) as the dump in `dir`
 * holds them: from its pages, or for a file mapping the dump has no page of (code, as a rule), from
 * the file, which the dump names and the tests leave in place.
 */
export function readDumped(dir: string, pid: number, vaddr: bigint, n: number): Buffer {
  const at = dumpedByteAt(dir, pid, vaddr);
  if (at) return readAt(at.file, at.offset, n);
  const vma = (decodeImageFile(path.join(dir, `mm-${pid}.img`)).entries[0]!.value.vmas as MessageValue[])
    .find((v) => BigInt(v.start as bigint) <= vaddr && vaddr < BigInt(v.end as bigint));
  const file = vma && (Number(vma.status) & VMA.FILE_PRIVATE) !== 0
    ? decodeImageFile(path.join(dir, 'files.img')).entries.map((e) => e.value).find((f) => Number(f.id) === Number(vma.shmid))
    : undefined;
  const name = (file?.reg as MessageValue | undefined)?.name as string | undefined;
  if (!vma || name === undefined) throw new Error(`the dump in ${dir} holds no page of task ${pid} at 0x${vaddr.toString(16)}`);
  return readAt(name, Number(BigInt(vma.pgoff as bigint) + vaddr - BigInt(vma.start as bigint)), n);
}

function readAt(file: string, offset: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  const fd = openSync(file, 'r');
  try { readSync(fd, out, 0, n, offset); } finally { closeSync(fd); }
  return out;
}

/** XORs task `pid`'s byte at `vaddr` in the dump in `dir` with `mask`. */
export function flipDumpedByte(dir: string, pid: number, vaddr: bigint, mask = 0xff): void {
  const at = dumpedByteAt(dir, pid, vaddr);
  if (!at) throw new Error(`the dump in ${dir} holds no page of task ${pid} at 0x${vaddr.toString(16)}`);
  const fd = openSync(at.file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at.offset);
    b[0] ^= mask;
    writeSync(fd, b, 0, 1, at.offset);
  } finally {
    closeSync(fd);
  }
}
