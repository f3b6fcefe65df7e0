// epoll (EVENTPOLL): the watched set (eventpoll_file_entry.tfd: target descriptor, events, data;
// dev/inode/pos of the target as CRIU 4.2 writes them). The targets are added once every
// descriptor of the task is in place, each at its descriptor number; the kernel re-checks
// readiness on EPOLL_CTL_ADD, so ready targets (edge-triggered too) are reported again.
import { statSync } from 'node:fs';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import type { FdKind } from './kind.js';
import { isAnon, setFileFlags, taskCall } from './anon.js';
import { O_CLOEXEC, num, big } from '../shared/constants.js';
import { writeU32, writeU64 } from '../sys/index.js';

const EPOLL_CTL_ADD = 1;

export const eventpollKind: FdKind = {
  type: 'EVENTPOLL', field: 'epfd', name: 'an epoll descriptor',
  matches: (c) => isAnon(c, 'eventpoll'),
  dump(c) {
    const tfd = (c.info.epoll ?? []).map((t) => {
      // The watched file must still be that descriptor of the task (epoll keeps closed files' entries).
      let same = false;
      try {
        same = t.inode === null || statSync(`/proc/${c.pid}/fd/${t.tfd}`, { bigint: true }).ino === t.inode;
      } catch { /* closed */ }
      if (!same) {
        throw new DumpError('UNSUPPORTED', `fd ${c.fd} of task ${c.pid} is an epoll descriptor watching fd ${t.tfd}, which is closed or is another file now: cryo cannot dump that`);
      }
      const e: Record<string, unknown> = { id: 0, tfd: t.tfd, events: t.events, data: t.data };
      if (t.sdev !== null) e.dev = t.sdev;
      if (t.inode !== null) e.inode = t.inode;
      if (t.pos !== null) e.pos = t.pos;
      return e;
    });
    return { id: c.id, flags: c.flags, fown: c.fown, tfd: tfd as never };
  },
  check(img, entry, why) {
    const fds = new Set(img.fdinfo.map((f) => num(f.fd)));
    for (const t of (entry.tfd as Record<string, unknown>[] | undefined) ?? []) {
      if (!fds.has(num(t.tfd))) {
        throw new RestoreError('IMAGE_INCONSISTENT', `${why} is an epoll descriptor watching fd ${num(t.tfd)}, which the task has no descriptor for`);
      }
    }
  },
  restore({ ctx, session, entry, why }) {
    const fd = Number(taskCall(ctx, why, 'epoll_create1', O_CLOEXEC));
    setFileFlags(ctx, fd, num(entry.flags));
    // struct epoll_event { u32 events; u64 data }: packed on x86_64 only, so its layout is the arch's.
    const layout = ctx.arch.kernelAbi.layouts.epollEvent;
    session.later(() => {
      for (const t of (entry.tfd as Record<string, unknown>[] | undefined) ?? []) {
        const ev = Buffer.alloc(layout.size);
        writeU32(ev, num(t.events) >>> 0, layout.events);
        writeU64(ev, big(t.data), layout.data);
        const r = ctx.raw('epoll_ctl', fd, EPOLL_CTL_ADD, num(t.tfd), ctx.put(ev, 256));
        if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from epoll_ctl(ADD, fd ${num(t.tfd)}) restoring ${why}`);
      }
    });
    return fd;
  },
};
