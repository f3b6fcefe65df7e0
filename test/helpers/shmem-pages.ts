// Where the bytes of a shared memory object (memfd or shared anonymous memory) lie in a dump:
// pagemap-shmem-SHMID.img maps object offsets to its pages file.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import path from 'node:path';
import { PageReader } from '../../src/images/index.js';
import { PAGE_SIZE } from './dumped-memory.js';

const PAGE = BigInt(PAGE_SIZE);

/** The pages file and byte offset of object offset `off`, or undefined when the dump has no page there. */
export function shmemPageOffset(dir: string, shmid: bigint | number, off: bigint): { file: string; offset: number } | undefined {
  const reader = new PageReader(path.join(dir, `pagemap-shmem-${shmid}.img`), undefined, Number(PAGE));
  try {
    for (const run of reader) {
      if (off >= run.vaddr && off < run.vaddr + BigInt(run.nrPages) * PAGE) {
        return run.offset < 0 ? undefined : { file: reader.pagesPath, offset: run.offset + Number(off - run.vaddr) };
      }
    }
  } finally {
    reader.close();
  }
  return undefined;
}

/** Flips one byte of the object in the dump (it must have the page). */
export function flipShmemByte(dir: string, shmid: bigint | number, off: bigint): void {
  const at = shmemPageOffset(dir, shmid, off);
  if (!at) throw new Error(`pagemap-shmem-${shmid}.img has no page at offset ${off}`);
  const fd = openSync(at.file, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at.offset);
    b[0] ^= 0xff;
    writeSync(fd, b, 0, 1, at.offset);
  } finally {
    closeSync(fd);
  }
}
