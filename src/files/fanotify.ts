// fanotify (FANOTIFY): the group's init flags and event file flags, and every mark, as CRIU 4.2
// keeps them (fanotify_file_entry with its marks inline): an inode mark by the inode's file handle
// (with its path as a hint, as inotify watches), a mount mark by the mount's ID and mount point.
// Restore makes the group again with the same flags and puts each mark back with its mask, its
// ignore mask and its flags. Marks on a whole file system (FAN_MARK_FILESYSTEM) are refused, as
// CRIU refuses them. Events queued at dump time are not kept (CRIU drops them too).
import type { MessageValue } from '../images/value.js';
import { readMountinfo } from '../proc/index.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import { AT_FDCWD } from '../sys/index.js';
import type { FdKind } from './kind.js';
import { isAnon, setFileFlags, taskCall } from './anon.js';
import { big, num } from '../shared/constants.js';
import { ghostNames, watchedHandle, watchedPath } from './fhandle.js';
import { showDev } from './inotify.js';
import type { TaskCtx } from '../shared/task-ctx.js';

/** fanotify_mark() flags (include/uapi/linux/fanotify.h); fdinfo's mflags are these too. */
const FAN_MARK = { ADD: 0x1, DONT_FOLLOW: 0x4, MOUNT: 0x10, IGNORED_MASK: 0x20, IGNORED_SURV_MODIFY: 0x40, EVICTABLE: 0x200, IGNORE: 0x400 };

const marks = (entry: MessageValue) => (entry.mark as MessageValue[] | undefined) ?? [];
const devOf = (m: { devMajor: number; devMinor: number }) => ((m.devMajor << 20) | m.devMinor) >>> 0;

/** Where a mark is to be put again, or undefined when it cannot be found on this machine. */
function markPath(m: MessageValue): string | undefined {
  if (m.type === 'MOUNT') {
    const p = String((m.me as MessageValue | undefined)?.path ?? '');
    return readMountinfo('self').some((x) => x.mountPoint === p && devOf(x) === num(m.s_dev)) ? p : undefined;
  }
  const ie = m.ie as MessageValue | undefined;
  return watchedPath(ie?.f_handle as MessageValue | undefined, num(m.s_dev), big(ie?.i_ino ?? 0));
}

function describe(m: MessageValue): string {
  if (m.type === 'MOUNT') return `the mount of ${String((m.me as MessageValue | undefined)?.path)} (device ${showDev(num(m.s_dev))})`;
  const ie = m.ie as MessageValue | undefined;
  const hint = (ie?.f_handle as MessageValue | undefined)?.path;
  return `inode ${big(ie?.i_ino ?? 0)} of device ${showDev(num(m.s_dev))}${hint === undefined ? ' (no path recorded)' : ` (${String(hint)})`}`;
}

/** One mark again: its mask, then its ignore mask, each with the flags that made it. */
function addMark(ctx: TaskCtx, why: string, fd: number, m: MessageValue, path: string): void {
  const mflags = num(m.mflags);
  const base = FAN_MARK.ADD | (m.type === 'MOUNT' ? FAN_MARK.MOUNT : FAN_MARK.DONT_FOLLOW) | (mflags & FAN_MARK.EVICTABLE);
  const at = ctx.putString(path);
  if (num(m.mask) !== 0) taskCall(ctx, why, 'fanotify_mark', fd, base, num(m.mask), AT_FDCWD, at);
  if (num(m.ignored_mask) !== 0) {
    const ignore = (mflags & FAN_MARK.IGNORE ? FAN_MARK.IGNORE : FAN_MARK.IGNORED_MASK) | (mflags & FAN_MARK.IGNORED_SURV_MODIFY);
    taskCall(ctx, why, 'fanotify_mark', fd, base | ignore, num(m.ignored_mask), AT_FDCWD, at);
  }
}

export const fanotifyKind: FdKind = {
  type: 'FANOTIFY', field: 'ffy', name: 'a fanotify descriptor',
  matches: (c) => isAnon(c, 'fanotify'),
  dump(c) {
    const fa = c.info.fanotify ?? { flags: 0, eventFlags: 0, marks: [] };
    const where = `fd ${c.fd} of task ${c.pid}`;
    const mounts = fa.marks.some((m) => m.type === 'mount') ? readMountinfo(c.pid) : [];
    const mark = fa.marks.map((m): MessageValue => {
      const common = { id: c.id, mflags: m.mflags, mask: m.mask, ignored_mask: m.ignoredMask };
      if (m.type === 'sb') throw new DumpError('UNSUPPORTED', `${where}: a fanotify mark on the whole file system of device ${showDev(m.sdev)} (FAN_MARK_FILESYSTEM): cryo cannot dump it (neither can CRIU)`);
      if (m.type === 'mount') {
        const mnt = mounts.find((x) => x.mountId === m.mntId);
        if (mnt === undefined) throw new DumpError('UNSUPPORTED', `${where}: a fanotify mark on mount ${m.mntId}, which is not in the task's mount namespace: cryo cannot dump it`);
        return { ...common, type: 'MOUNT', s_dev: devOf(mnt), me: { mnt_id: m.mntId, path: mnt.mountPoint } };
      }
      if (!m.fhandle) throw new DumpError('UNSUPPORTED', `${where}: a fanotify mark on inode ${m.inode} has no file handle in fdinfo (a kernel without CONFIG_FHANDLE): cryo cannot dump it`);
      return { ...common, type: 'INODE', s_dev: m.sdev, ie: { i_ino: m.inode, f_handle: watchedHandle(c, m.fhandle, m.sdev, m.inode) } };
    });
    return { id: c.id, flags: c.flags, fown: c.fown, faflags: fa.flags, evflags: fa.eventFlags, mark: mark as never };
  },
  check(img, entry, why) {
    const ghosts = ghostNames(img);
    for (const m of marks(entry)) {
      if (m.type !== 'MOUNT' && m.type !== 'INODE') throw new RestoreError('IMAGE_INCONSISTENT', `${why} (fanotify): a mark of unknown type ${String(m.type)}: the images are damaged; restore from an intact copy`);
      const hint = ((m.ie as MessageValue | undefined)?.f_handle as MessageValue | undefined)?.path;
      if (markPath(m) !== undefined || (hint !== undefined && ghosts.has(String(hint)))) continue;
      throw new RestoreError('FILE_MISSING', `${why} (fanotify): the mark on ${describe(m)} cannot be found on this machine: restore needs the marked ${m.type === 'MOUNT' ? 'mount' : 'file'} where it was`);
    }
  },
  restore({ ctx, entry, why }) {
    // faflags hold FAN_CLOEXEC and FAN_NONBLOCK as fanotify_init() got them (fdinfo shows them);
    // the file's flags now (F_SETFL) and close-on-exec (generic code) are set after.
    const fd = Number(taskCall(ctx, why, 'fanotify_init', num(entry.faflags), num(entry.evflags)));
    setFileFlags(ctx, fd, num(entry.flags));
    for (const m of marks(entry)) {
      const p = markPath(m);
      if (p === undefined) throw new RestoreError('FILE_MISSING', `${why}: the fanotify mark on ${describe(m)} is gone`);
      addMark(ctx, why, fd, m, p);
    }
    return fd;
  },
};
