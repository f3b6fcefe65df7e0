// /dev/tty descriptors (CRIU's TTY_TYPE__CTTY): a descriptor of "the caller's controlling
// terminal", whatever that is when it is opened. Dumped as one tty_info (CRIU's id 2012, the
// session and foreground group it reaches) and one TTY file per open file; restored by opening
// /dev/tty in the task once its session has its controlling terminal again (src/files/tty.ts
// gives it in a later step): until then a placeholder holds the descriptor's number.

import type { MessageValue } from '../images/value.js';
import { readStat } from '../proc/index.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import { openInTask, type TaskCtx } from '../shared/task-ctx.js';
import { FD_CLOEXEC, O_CLOEXEC, O_NOCTTY, O_OPEN_ONLY, num } from '../shared/constants.js';
import { major, minor } from '../shared/dev-numbers.js';
import type { DumpFd, RestoreFd } from './kind.js';

const TTYAUX_MAJOR = 5;
/** CRIU's CTTY_INDEX (1006), as a tty_info id (index << 1). */
export const CTTY_INFO_ID = 1006 << 1;
const PTS_MAJOR_FIRST = 136;
const PTS_MAJOR_LAST = 143;
const F_GETFD = 1;

export const isDevTty = (rdev: bigint) => major(rdev) === TTYAUX_MAJOR && minor(rdev) === 0;

/** The pty index of a process's controlling terminal (from /proc stat's tty_nr), or a refusal. */
export function cttyIndex(c: DumpFd): number {
  const st = readStat(c.pid);
  const maj = (st.ttyNr >> 8) & 0xfff;
  const min = (st.ttyNr & 0xff) | ((st.ttyNr >> 12) & 0xfff00);
  if (st.ttyNr === 0) throw new DumpError('UNSUPPORTED', `fd ${c.fd} of process ${c.pid} is /dev/tty, but the process has no controlling terminal now (hung up): cryo cannot dump it`);
  if (maj < PTS_MAJOR_FIRST || maj > PTS_MAJOR_LAST) {
    throw new DumpError('UNSUPPORTED', `fd ${c.fd} of process ${c.pid} is /dev/tty, and its controlling terminal is device ${maj}:${min}, not a pty: cryo restores ptys only`);
  }
  return (maj - PTS_MAJOR_FIRST) * 256 + min;
}

/** The tty_info of /dev/tty: the session and foreground group the holder's terminal has. */
export function cttyInfo(c: DumpFd): MessageValue {
  const st = readStat(c.pid);
  return {
    id: CTTY_INFO_ID, type: 'CTTY', locked: false, exclusive: false, packet_mode: false,
    sid: st.session, pgrp: Math.max(0, st.tpgid), rdev: Number(BigInt(c.st.rdev) & 0xffffffffn),
    dev: Number(BigInt(c.st.dev) & 0xffffffffn), uid: Number(c.st.uid), gid: Number(c.st.gid),
  };
}

/** A placeholder now; /dev/tty itself once every terminal is a session's controlling terminal again. */
export function restoreCtty(c: RestoreFd): number {
  const { ctx, entry, why, target } = c;
  const flags = (num(entry.flags) & ~O_OPEN_ONLY) | O_NOCTTY;
  const fd = openInTask(ctx, '/dev/null', O_CLOEXEC, why);
  // Twice deferred: a pty's own later step (which gives sessions their terminals) is queued by
  // then, wherever in the tree the pair was made.
  ctx.tree.later(() => ctx.tree.later(() => {
    // Only the session leader has its terminal again (TIOCSCTTY reaches no other process made
    // before it): the leader opens /dev/tty and the task takes that open file.
    const sid = num(ctx.img.pstree.sid);
    // A shell job's session is cryo's: the task has cryo's terminal from birth.
    const leader = ctx.tree.state('ctxByPid', () => new Map<number, TaskCtx>()).get(sid) ?? ctx;
    let tty: number;
    try {
      tty = openInTask(leader, '/dev/tty', flags | O_CLOEXEC, why);
    } catch (e) {
      throw new RestoreError('FAILED', `${why} is /dev/tty, but session ${sid} has no controlling terminal after restore: ${(e as Error).message}`);
    }
    if (leader !== ctx) {
      const mine = ctx.importFd(leader, tty);
      leader.call('close', tty);
      tty = mine;
    }
    const cloexec = (Number(ctx.call('fcntl', target, F_GETFD, 0)) & FD_CLOEXEC) !== 0;
    ctx.call('dup3', tty, target, cloexec ? O_CLOEXEC : 0);
    ctx.call('close', tty);
  }));
  return fd;
}
