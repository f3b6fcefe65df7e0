// The images of the tree's descriptors and of what they hold (pipe and socket queues, ghost files,
// memfd pages, cryo's own file stats and links), written once every process is read.
import path from 'node:path';
import type { Arch } from '../arch/types.js';
import { PageWriter, type MessageValue } from '../images/index.js';
import { CRYO_FILES_IMAGE, CRYO_LINKS_IMAGE, writeCryoFileStats, writeCryoLinks } from '../images/cryo-image.js';
import { CRYO_IO_URING_IMAGE, writeCryoIoUring } from '../images/cryo-io-uring.js';
import type { ImageSet } from './image-set.js';
import type { FileTable } from './files.js';
import type { DumpedProcess } from './process.js';

/** Pages of memfd/shmem inodes: their whole size scanned, the data runs written (CRIU's shpages_*). */
export function shpages(files: FileTable, pageSize: number): { scanned: bigint; written: bigint } {
  const page = BigInt(pageSize);
  let scanned = 0n;
  let written = 0n;
  for (const m of files.memfds) {
    scanned += (BigInt(m.entry.size as bigint) + page - 1n) / page;
    for (const r of m.runs) written += BigInt(r.data.length) / page;
  }
  return { scanned, written };
}

/** files.img, fdinfo, the queues and payloads of every kind, memfd pages, cryo's stats and links. */
export function writeFileImages(images: ImageSet, files: FileTable, procs: readonly DumpedProcess[], arch: Arch, firstPagesId: number): void {
  images.write('files', undefined, 'FILES', files.files);
  // A process using its parent's table (files_id is not its own id) writes no fdinfo of its own.
  for (const p of procs) if (p.ids.files_id === p.ids.vm_id) images.write('fdinfo', p.ids.files_id as number, 'FDINFO', p.fdinfos);
  if (files.pipesData.length > 0) images.write('pipesData', undefined, 'PIPES_DATA', files.pipesData);
  if (files.fifoData.length > 0) images.write('fifoData', undefined, 'FIFO_DATA', files.fifoData);
  if (files.skQueues.length > 0) images.write('skQueues', undefined, 'SK_QUEUES', files.skQueues);
  if (files.locks.entries.length > 0) images.write('filelocks', undefined, 'FILE_LOCKS', files.locks.entries);
  if (files.remaps.length > 0) images.write('remapFpath', undefined, 'REMAP_FPATH', files.remaps);
  for (const x of files.images) images.write(x.key, x.id, x.magic, x.entries);
  for (const g of files.ghosts) {
    const entries = g.chunks
      ? [{ value: g.head }, ...g.chunks.map((c) => ({ value: { len: BigInt(c.data.length), off: c.off } as MessageValue, extra: c.data }))]
      : [{ value: g.head, extra: g.data ?? Buffer.alloc(0) }];
    images.write('ghostFile', g.id, 'GHOST_FILE', entries);
  }
  if (files.memfds.length > 0) {
    images.write('memfd', undefined, 'MEMFD_INODE', files.memfds.map((m) => m.entry));
    let pagesId = firstPagesId;
    for (const m of files.memfds) {
      const pw = new PageWriter({ pagemapFile: images.path('shmemPagemap', m.shmid), pagesFile: images.path('pages', pagesId), pagesId, pageSize: arch.pageSize });
      try {
        for (const r of m.runs) pw.addPages(r.off, r.data);
      } finally {
        pw.close();
      }
      images.record(images.path('shmemPagemap', m.shmid));
      images.record(images.path('pages', pagesId));
      pagesId++;
    }
  }
  const cryo = path.join(images.dir, CRYO_FILES_IMAGE);
  writeCryoFileStats(cryo, files.stats);
  images.record(cryo);
  if (files.ioUrings.length > 0) {
    const rings = path.join(images.dir, CRYO_IO_URING_IMAGE);
    writeCryoIoUring(rings, files.ioUrings);
    images.record(rings);
  }
  if (files.links.size > 0) {
    const links = path.join(images.dir, CRYO_LINKS_IMAGE);
    writeCryoLinks(links, files.links);
    images.record(links);
  }
}
