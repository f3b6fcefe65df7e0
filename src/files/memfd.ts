// memfds (MEMFD): the inode (memfd.img, pages in pagemap-shmem-SHMID.img) is made once per
// restore by src/shared/shmem.ts and shared with the mappings; each file id is a new open file
// description of it, at its offset.
import type { FdKind } from './kind.js';
import { openMemfd } from '../shared/shmem.js';

export const memfdKind: FdKind = {
  type: 'MEMFD', field: 'memfd', name: 'a memfd',
  matches: (c) => c.target.kind === 'path' && c.target.path.startsWith('/memfd:') && c.st.isFile(),
  dump(c) {
    const name = (c.target as { path: string }).path.slice('/memfd:'.length);
    const inodeId = c.table.memfdInode(c.procFd, name);
    return { id: c.id, flags: c.flags, pos: c.info.pos, fown: c.fown, inode_id: inodeId };
  },
  restore: ({ ctx, entry, why }) => openMemfd(ctx, entry, why),
};
