// eventfd (EVENTFD): counter and file flags, as CRIU 4.2 (eventfd_file_entry). EFD_SEMAPHORE is
// no file flag and CRIU's message has no field for it: cryo records it in cryo-files.img.
import { fstatSync } from 'node:fs';
import { readCryoFileStats } from '../images/cryo-image.js';
import type { FdKind } from './kind.js';
import { isAnon, setFileFlags, taskCall } from './anon.js';
import { O_CLOEXEC, big, num } from '../shared/constants.js';
import { writeU64 } from '../sys/native-endian.js';

const EFD_SEMAPHORE = 1;

export const eventfdKind: FdKind = {
  type: 'EVENTFD', field: 'efd', name: 'an eventfd',
  matches: (c) => isAnon(c, 'eventfd') && c.info.eventfd !== undefined,
  dump(c) {
    if (c.info.eventfd!.semaphore) {
      const st = fstatSync(c.stolen, { bigint: true });
      c.table.stats.push({ id: c.id, mtimeSec: st.mtimeNs / 1_000_000_000n, mtimeNsec: Number(st.mtimeNs % 1_000_000_000n), size: 0n, eventfdSemaphore: true });
    }
    return { id: c.id, flags: c.flags, fown: c.fown, counter: c.info.eventfd!.count };
  },
  restore({ ctx, session, entry, why }) {
    const facts = session.state('cryo-files', () => readCryoFileStats(ctx.img.dir));
    const sem = facts.get(num(entry.id))?.eventfdSemaphore === true;
    const counter = big(entry.counter);
    // eventfd2 takes an unsigned int: a larger counter is written after.
    const fd = Number(taskCall(ctx, why, 'eventfd2', counter > 0xffffffffn ? 0 : counter, O_CLOEXEC | (sem ? EFD_SEMAPHORE : 0)));
    if (counter > 0xffffffffn) {
      const b = Buffer.alloc(8);
      writeU64(b, counter, 0);
      taskCall(ctx, why, 'write', fd, ctx.put(b, 256), 8);
    }
    setFileFlags(ctx, fd, num(entry.flags));
    return fd;
  },
};
