// FIFOs (FIFO + a REG entry for its path): opened by path. A reader+writer end held by cryo
// (parked high) comes first: with it, opening either end does not block, and the FIFO's buffer
// (fifo-data.img) is kept while the ends are placed.
import { withReader } from '../shared/file-data.js';
import { openImagePath, S_IFIFO } from '../shared/image-paths.js';
import { regFile } from '../shared/file-entries.js';
import type { FdKind } from './kind.js';
import { O_ACCMODE, O_CLOEXEC, O_NONBLOCK, O_OPEN_ONLY, O_RDWR, F_SETFL, num } from '../shared/constants.js';
import { fillPipe, park, pipeData } from './pipe-data.js';

export const fifoKind: FdKind = {
  type: 'FIFO', field: 'fifo', name: 'a FIFO',
  matches: (c) => c.target.kind === 'path' && c.st.isFIFO(),
  dump(c) {
    const inode = BigInt(c.st.ino);
    const regfId = c.table.newId();
    c.table.addReg(regfId, c.procFd, (c.target as { path: string }).path, c.flags, c.info.pos, c.fown);
    withReader(c.stolen, c.flags, c.procFd, (rd) => c.table.addPipeData(true, inode, rd));
    return { id: c.id, pipe_id: Number(inode & 0xffffffffn), regf_id: regfId };
  },
  neededFiles: (fifo) => [num(fifo.regf_id)],
  neededType: S_IFIFO,
  restore({ ctx, session, entry: fifo, why }) {
    const reg = regFile(ctx.img, num(fifo.regf_id), why);
    const id = num(fifo.pipe_id);
    const holders = session.state('fifo-holders', () => new Set<number>());
    if (!holders.has(id)) {
      holders.add(id);
      const fd = openImagePath(ctx, String(reg.name), O_RDWR | O_NONBLOCK | O_CLOEXEC, `FIFO ${reg.name}`, S_IFIFO);
      const hi = park(ctx, fd, session.high);
      fillPipe(ctx, hi, `FIFO ${reg.name}`, pipeData(session, 'fifo-data.img').get(id));
      session.later(() => ctx.call('close', hi));
    }
    const flags = num(reg.flags) & ~O_OPEN_ONLY;
    const fd = openImagePath(ctx, String(reg.name), flags | O_NONBLOCK, why, S_IFIFO);
    if (!(flags & O_NONBLOCK)) ctx.call('fcntl', fd, F_SETFL, flags & ~O_NONBLOCK & ~O_ACCMODE);
    return fd;
  },
};
