// memfds (MEMFD): the inode (memfd.img, pages in pagemap-shmem-SHMID.img) is made once per
// restore by src/shared/shmem.ts and shared with the mappings; each file id is a new open file
// description of it, at its offset. A descriptor of shared anonymous memory (opened through
// /proc/PID/map_files, it shows /dev/zero) is one too, named /dev/zero, as CRIU 4.2 dumps it.
import type { FdKind } from './kind.js';
import { openMemfd } from '../shared/shmem.js';
import { shmemDev } from '../sys/index.js';

const MEMFD_PREFIX = '/memfd:';

export const memfdKind: FdKind = {
  type: 'MEMFD', field: 'memfd', name: 'a memfd',
  matches: (c) => c.target.kind === 'path' && c.st.isFile()
    && (c.target.path.startsWith(MEMFD_PREFIX) || (c.target.deleted && BigInt(c.st.dev) === shmemDev())),
  dump(c) {
    const path = (c.target as { path: string }).path;
    const name = path.startsWith(MEMFD_PREFIX) ? path.slice(MEMFD_PREFIX.length) : path;
    const inodeId = c.table.memfdInode(c.procFd, name);
    return { id: c.id, flags: c.flags, pos: c.info.pos, fown: c.fown, inode_id: inodeId };
  },
  restore: ({ ctx, entry, why }) => openMemfd(ctx, entry, why),
};
