// epoll (EVENTPOLL): the watched set (eventpoll_file_entry.tfd: target descriptor, events, data;
// dev/inode/pos of the target as CRIU 4.2 writes them). The kernel keys a watch by its file and
// the descriptor number it was added with; that file may since have been closed or dup'd under
// that number, or be held by another process of the tree only. The dump finds each watched file
// with kcmp(KCMP_EPOLL_TFD) among every descriptor of the tree and records its file id
// (cryo-files.img). Restore adds the watches once every process has its descriptors: the file,
// borrowed from whichever process holds it, sits at the watch's number just for EPOLL_CTL_ADD.
// The kernel re-checks readiness on ADD, so ready targets (edge-triggered too) are reported again.
import { DumpError } from '../shared/dump-error.js';
import { readCryoFileStats, type CryoFileStat } from '../images/cryo-image.js';
import type { OpenedFile } from '../shared/file-table.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { FdKind } from './kind.js';
import { isAnon, setFileFlags, taskCall } from './anon.js';
import { F_DUPFD_CLOEXEC, FD_CLOEXEC, O_CLOEXEC, num, big } from '../shared/constants.js';
import { KCMP_EPOLL_TFD, kcmp, writeU32, writeU64 } from '../sys/index.js';

const EPOLL_CTL_ADD = 1;
const F_GETFD = 1;

/** Whether descriptor `fd` of `holder` is the file epoll `efd` of `pid` watches as its `toff`-th entry numbered `tfd`. */
function isWatched(holder: OpenedFile, pid: number, efd: number, tfd: number, toff: number): boolean {
  // struct kcmp_epoll_slot { __u32 efd, tfd, toff; }
  const slot = Buffer.alloc(12);
  writeU32(slot, efd, 0);
  writeU32(slot, tfd, 4);
  writeU32(slot, toff, 8);
  try {
    return kcmp(holder.pid, pid, KCMP_EPOLL_TFD, holder.fd, slot) === 0;
  } catch {
    return false;
  }
}

/** File ids of an image's descriptors in every process of the dump. */
function treeFileIds(img: RestoreImages): Set<number> {
  const ids = new Set<number>();
  for (const [name, image] of img.all) {
    if (/^fdinfo-\d+\.img$/.test(name)) for (const e of image.entries) ids.add(num(e.value.id));
  }
  return ids;
}

/** Where a watch's file is in the restored tree: the process and descriptor holding it. */
interface Holder { ctx: TaskCtx; fd: number }

/**
 * Adds one watch to epoll `epfd` of `ctx`: the file at `hold` is put at number `tfd` for the
 * EPOLL_CTL_ADD (whatever holds that number meanwhile is set aside and put back, flags and all).
 */
function addWatch(ctx: TaskCtx, epfd: number, tfd: number, hold: Holder, ev: Buffer, why: string): void {
  const direct = hold.ctx === ctx && hold.fd === tfd;
  const high = 1 + Math.max(tfd, epfd, ...ctx.img.fdinfo.map((f) => num(f.fd)));
  const above = (fd: number) => {
    const moved = Number(ctx.call('fcntl', fd, F_DUPFD_CLOEXEC, high));
    ctx.call('close', fd);
    return moved;
  };
  let borrowed = -1;
  let aside = -1;
  let asideFlags = 0;
  if (!direct) {
    borrowed = hold.ctx === ctx ? Number(ctx.call('fcntl', hold.fd, F_DUPFD_CLOEXEC, high)) : above(ctx.importFd(hold.ctx, hold.fd));
    const flags = ctx.raw('fcntl', tfd, F_GETFD);
    if (flags >= 0n) {
      asideFlags = Number(flags);
      aside = Number(ctx.call('fcntl', tfd, F_DUPFD_CLOEXEC, high));
    }
    ctx.call('dup3', borrowed, tfd, 0);
  }
  const r = ctx.raw('epoll_ctl', epfd, EPOLL_CTL_ADD, tfd, ctx.put(ev, 256));
  if (!direct) {
    if (aside >= 0) {
      ctx.call('dup3', aside, tfd, (asideFlags & FD_CLOEXEC) !== 0 ? O_CLOEXEC : 0);
      ctx.call('close', aside);
    } else {
      ctx.call('close', tfd);
    }
    ctx.call('close', borrowed);
  }
  if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from epoll_ctl(ADD, fd ${tfd}) restoring ${why}`);
}

export const eventpollKind: FdKind = {
  type: 'EVENTPOLL', field: 'epfd', name: 'an epoll descriptor',
  matches: (c) => isAnon(c, 'eventpoll'),
  dump(c) {
    const targets = c.info.epoll ?? [];
    const tfd = targets.map((t) => {
      const e: Record<string, unknown> = { id: 0, tfd: t.tfd, events: t.events, data: t.data };
      if (t.sdev !== null) e.dev = t.sdev;
      if (t.inode !== null) e.inode = t.inode;
      if (t.pos !== null) e.pos = t.pos;
      return e;
    });
    if (targets.length > 0) {
      const facts: CryoFileStat = { id: c.id, mtimeSec: 0n, mtimeNsec: 0, size: 0n, epollTargets: [] };
      c.table.stats.push(facts);
      // The kernel lists watches with one number in the order kcmp counts them (toff).
      const count = new Map<number, number>();
      const toff = targets.map((t) => {
        const n = count.get(t.tfd) ?? 0;
        count.set(t.tfd, n + 1);
        return n;
      });
      const { pid, fd, table } = c;
      table.whenTreeDumped(() => {
        facts.epollTargets = targets.map((t, i) => {
          // This process's own descriptors first (the usual case: the file is still under that number).
          const sameInode = (o: OpenedFile) => t.inode === null || BigInt(o.ino) === t.inode;
          const candidates = [
            ...table.opened.list.filter((o) => o.pid === pid && o.fd === t.tfd),
            ...table.opened.list.filter((o) => o.pid === pid && o.fd !== t.tfd && sameInode(o)),
            ...table.opened.list.filter((o) => o.pid !== pid && sameInode(o)),
          ];
          const found = candidates.find((o) => isWatched(o, pid, fd, t.tfd, toff[i]!));
          if (!found) {
            throw new DumpError('UNSUPPORTED', `fd ${fd} of task ${pid} is an epoll descriptor watching a file (added as fd ${t.tfd}) that no process of the tree holds any more (a process outside the tree does, or it is in flight in a unix socket): cryo cannot dump that; dump the tree that holds it`);
          }
          return found.id;
        });
      });
    }
    return { id: c.id, flags: c.flags, fown: c.fown, tfd: tfd as never };
  },
  check(img, entry, why) {
    const targets = readCryoFileStats(img.dir).get(num(entry.id))?.epollTargets;
    const ids = treeFileIds(img);
    const fds = new Set(img.fdinfo.map((f) => num(f.fd)));
    for (const [i, t] of ((entry.tfd as Record<string, unknown>[] | undefined) ?? []).entries()) {
      const target = targets?.[i];
      if (target !== undefined ? !ids.has(target) : !fds.has(num(t.tfd))) {
        throw new RestoreError('IMAGE_INCONSISTENT', `${why} is an epoll descriptor watching fd ${num(t.tfd)}, a file no process of the dump has a descriptor for`);
      }
    }
  },
  restore({ ctx, session, entry, why }) {
    const fd = Number(taskCall(ctx, why, 'epoll_create1', O_CLOEXEC));
    setFileFlags(ctx, fd, num(entry.flags));
    const targets = session.state('cryo-files', () => readCryoFileStats(ctx.img.dir)).get(num(entry.id))?.epollTargets;
    // struct epoll_event { u32 events; u64 data }: packed on x86_64 only, so its layout is the arch's.
    const layout = ctx.arch.kernelAbi.layouts.epollEvent;
    const fileOf = (n: number) => num(ctx.img.fdinfo.find((f) => num(f.fd) === n)?.id);
    // Files opened in the tree, by id (src/restore/files.ts): every process has its descriptors when this runs.
    const inTree = ctx.tree.state('files', () => new Map<number, Holder>());
    const epollId = num(entry.id);
    ctx.tree.later(() => {
      // The epoll sits at its own number in the first process that has it; one in flight in a
      // unix queue (no descriptor names it) stays where it was made.
      const placed = ctx.img.fdinfo.find((f) => num(f.id) === epollId);
      const epfd = placed ? num(placed.fd) : fd;
      for (const [i, t] of ((entry.tfd as Record<string, unknown>[] | undefined) ?? []).entries()) {
        const ev = Buffer.alloc(layout.size);
        writeU32(ev, num(t.events) >>> 0, layout.events);
        writeU64(ev, big(t.data), layout.data);
        const tfd = num(t.tfd);
        const id = targets?.[i] ?? fileOf(tfd);
        // Under its own number, else another descriptor of this process, else another process's.
        const mine = fileOf(tfd) === id ? tfd : ctx.img.fdinfo.find((f) => num(f.id) === id)?.fd;
        const hold = mine !== undefined ? { ctx, fd: num(mine) } : inTree.get(id);
        if (!hold) throw new RestoreError('FAILED', `${why} is an epoll descriptor watching file ${id}, which no restored process holds`);
        addWatch(ctx, epfd, tfd, hold, ev, why);
      }
    });
    return fd;
  },
};
