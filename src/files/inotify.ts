// inotify (INOTIFY): flags and every watch (inotify_wd_entry: wd, mask, inode, device, and the
// inode's file handle). As CRIU 4.2: the dump also records the watched path in the handle's
// `path` when the handle opens to that inode (a path hint), and restore watches that path if it
// is there, else whatever the handle opens on a mount of the same device; a watch neither names
// is refused in preflight. A watched file deleted since, but held open by the tree, is recreated
// by restore as a ghost file for as long as descriptors are opened: its old name is the hint.
// Each watch gets its old number (INOTIFY_IOC_SETNEXTWD). Events queued
// at dump time are not kept (CRIU drops them too).
import type { MessageValue } from '../images/value.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import type { FdKind } from './kind.js';
import { isAnon, setFileFlags, taskCall } from './anon.js';
import { O_CLOEXEC, big, num } from '../shared/constants.js';
import { ghostNames, watchedHandle, watchedPath } from './fhandle.js';
import { hostKernelAbi } from '../arch/host-abi.js';

/** IN_ALL_EVENTS plus the watch options that survive in the mark (IN_EXCL_UNLINK, IN_ONESHOT). */
const WATCH_MASK = 0xfff | 0x04000000 | 0x80000000;
/** _IOW('I', 0, __s32), whose direction bits are the architecture's. */
const INOTIFY_IOC_SETNEXTWD = hostKernelAbi().ioctls.INOTIFY_IOC_SETNEXTWD;
/** A link at the end is watched itself, not followed (preflight found none there). */
const IN_DONT_FOLLOW = 0x02000000;

export const showDev = (sdev: number) => `${sdev >>> 20}:${sdev & 0xfffff}`;

const watchPath = (w: MessageValue) => watchedPath(w.f_handle as MessageValue | undefined, num(w.s_dev), big(w.i_ino));

const watches = (entry: MessageValue) => ((entry.wd as MessageValue[] | undefined) ?? []).slice().sort((a, b) => num(a.wd) - num(b.wd));

export const inotifyKind: FdKind = {
  type: 'INOTIFY', field: 'ify', name: 'an inotify descriptor',
  matches: (c) => isAnon(c, 'inotify'),
  dump(c) {
    const wd = (c.info.inotify ?? []).map((w) => {
      if (!w.fhandle) throw new DumpError('UNSUPPORTED', `fd ${c.fd} of task ${c.pid}: inotify watch ${w.wd} has no file handle in fdinfo (a kernel without CONFIG_FHANDLE): cryo cannot dump it`);
      const fh = watchedHandle(c, w.fhandle, w.sdev, w.inode);
      return { id: 0, i_ino: w.inode, mask: w.mask, ignored_mask: w.ignoredMask, s_dev: w.sdev, wd: w.wd, f_handle: fh };
    });
    return { id: c.id, flags: c.flags, fown: c.fown, wd: wd as never };
  },
  check(img, entry, why) {
    const ghosts = ghostNames(img);
    for (const w of watches(entry)) {
      const hint = (w.f_handle as MessageValue | undefined)?.path;
      if (watchPath(w) !== undefined || (hint !== undefined && ghosts.has(String(hint)))) continue;
      throw new RestoreError('FILE_MISSING',
        `${why} (inotify): watch ${num(w.wd)} on inode ${big(w.i_ino)} of device ${showDev(num(w.s_dev))}${hint === undefined ? ' (no path recorded)' : ` (${String(hint)}, gone)`} cannot be found: its file handle does not open on this machine; restore needs the watched file where it was`);
    }
  },
  restore({ ctx, entry, why }) {
    const flags = num(entry.flags);
    const fd = Number(taskCall(ctx, why, 'inotify_init1', O_CLOEXEC));
    setFileFlags(ctx, fd, flags);
    for (const w of watches(entry)) {
      const want = num(w.wd);
      const p = watchPath(w);
      if (p === undefined) throw new RestoreError('FILE_MISSING', `${why}: the file of inotify watch ${want} is gone`);
      const setNext = ctx.raw('ioctl', fd, INOTIFY_IOC_SETNEXTWD, want) === 0n;
      const at = ctx.putString(p);
      for (;;) {
        const got = Number(taskCall(ctx, why, 'inotify_add_watch', fd, at, (num(w.mask) & WATCH_MASK) | IN_DONT_FOLLOW));
        if (got === want) break;
        if (got > want || setNext) throw new RestoreError('FAILED', `${why}: inotify watch ${want} on ${p} came back as watch ${got}`);
        // Without INOTIFY_IOC_SETNEXTWD: take numbers until the wanted one comes (as CRIU).
        taskCall(ctx, why, 'inotify_rm_watch', fd, got);
      }
    }
    return fd;
  },
};
