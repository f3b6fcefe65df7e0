// pidfd (PIDFD): a pidfd of the task itself or one of its threads (pidfd_entry: nspid, flags).
// A pidfd of a process outside the dumped tree cannot come back: the dump refuses it.
import { readdirSync } from 'node:fs';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import type { FdKind } from './kind.js';
import { setFileFlags, taskCall } from './anon.js';
import { O_EXCL, O_NONBLOCK, O_RDWR, num } from '../shared/constants.js';

/** PIDFD_THREAD is O_EXCL, PIDFD_NONBLOCK is O_NONBLOCK: what pidfd_open accepts. */
const PIDFD_OPEN_FLAGS = O_NONBLOCK | O_EXCL;

export const pidfdKind: FdKind = {
  type: 'PIDFD', field: 'pidfd', name: 'a pidfd of the task',
  // anon_inode:[pidfd] before Linux 6.9, pidfd:[INO] on pidfs after; fdinfo's Pid: line either way.
  matches: (c) => c.info.pidfd !== undefined && c.target.kind !== 'path',
  dump(c) {
    const p = c.info.pidfd;
    if (!p || p.pid <= 0) throw new DumpError('UNSUPPORTED', `fd ${c.fd} of task ${c.pid} is a pidfd of a process that has exited: cryo cannot dump that yet`);
    const tids = readdirSync(`/proc/${c.pid}/task`).map(Number);
    if (!tids.includes(p.pid)) {
      throw new DumpError('UNSUPPORTED', `fd ${c.fd} of task ${c.pid} is a pidfd of process ${p.pid}, which is outside the dumped process: dump that process too, or close the descriptor`);
    }
    // The number the task knows it by: the last of NSpid (its own PID namespace).
    const nspid = p.nsPid.length > 0 ? p.nsPid[p.nsPid.length - 1]! : p.pid;
    return { id: c.id, ino: Number(BigInt(c.st.ino) & 0xffffffffn), flags: c.flags & ~O_RDWR, nspid, fown: c.fown };
  },
  check(img, entry, why) {
    const tids = img.pstree.threads === undefined ? [img.pid] : (img.pstree.threads as (number | bigint)[]).map(Number);
    if (num(entry.nspid) === -1 || !tids.concat(img.pid).includes(num(entry.nspid))) {
      throw new RestoreError('UNSUPPORTED', `${why} is a pidfd of process ${num(entry.nspid)}, which is not in the dump: cryo restores pidfds of the dumped process only`);
    }
  },
  restore({ ctx, entry, why }) {
    const flags = num(entry.flags);
    const fd = Number(taskCall(ctx, why, 'pidfd_open', num(entry.nspid), flags & PIDFD_OPEN_FLAGS));
    setFileFlags(ctx, fd, flags);
    ctx.call('fcntl', fd, 2 /* F_SETFD */, 1);
    return fd;
  },
};
