// signalfd (SIGNALFD): the signal mask and file flags (signalfd_entry). Pending signals are the
// task's own (restored with its signal state), so reading the descriptor finds them again.
import type { FdKind } from './kind.js';
import { isAnon, setFileFlags, taskCall } from './anon.js';
import { O_CLOEXEC, big, num } from '../shared/constants.js';
import { writeU64 } from '../sys/native-endian.js';

export const signalfdKind: FdKind = {
  type: 'SIGNALFD', field: 'sgfd', name: 'a signalfd',
  matches: (c) => isAnon(c, 'signalfd') && c.info.signalfd !== undefined,
  dump: (c) => ({ id: c.id, flags: c.flags, fown: c.fown, sigmask: c.info.signalfd!.sigmask }),
  restore({ ctx, entry, why }) {
    const mask = Buffer.alloc(8);
    writeU64(mask, big(entry.sigmask), 0);
    const fd = Number(taskCall(ctx, why, 'signalfd4', -1, ctx.put(mask, 256), 8, O_CLOEXEC));
    setFileFlags(ctx, fd, num(entry.flags));
    return fd;
  },
};
