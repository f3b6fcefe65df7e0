// Restore of ptys: one pair per old index made in the task, its parameters set, and once every
// descriptor is placed the queued bytes, flags and controlling terminal; or cryo's own terminal
// for a shell job.
import { ptrace } from '../sys/index.js';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import { openInTask } from '../shared/task-ctx.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { RestoreFd } from './kind.js';
import { O_ACCMODE, O_CLOEXEC, O_NOCTTY, O_OPEN_ONLY, O_RDWR, F_DUPFD_CLOEXEC, F_SETFL, num } from '../shared/constants.js';
import { park } from './pipe-data.js';
import { TCSETS, TERMIOS_SIZE, TIOCEXCL, TIOCGLCKTRMIOS, TIOCGPTN, TIOCPKT, TIOCSCTTY, TIOCSLCKTRMIOS, TIOCSPGRP, TIOCSPTLCK, TIOCSWINSZ, termiosBytes, winsizeBytes } from './tty-ioctl.js';
import { readI32, writeI32 } from '../sys/native-endian.js';
import { AT_DATA, AT_STRUCT, DATA_CHUNK, SIGTTOU } from './tty-pty.js';
import { restoreCtty } from './ctty.js';
import { infoOf, isOutsideSlave, ttyInfo } from './tty-check.js';
import type { EarlyPair } from './tty-early.js';
import { isHungSlave, restoreHungSlave } from './tty-hung.js';

/** A pair made in one process of the tree: its ends parked there until every descriptor is placed. */
interface Pair { ctx: TaskCtx; master: number; slave: number; index: number }

/** Runs one tty ioctl in the task with SIGTTOU blocked (a background caller is not stopped by it). */
function ioctlQuiet(ctx: TaskCtx, fd: number, req: number, arg: bigint | number): bigint {
  // The mask is the stub's until resume sets the task's own from its signal frame.
  const mask = getMask(ctx);
  setMask(ctx, mask | (1n << BigInt(SIGTTOU - 1)));
  try {
    return ctx.raw('ioctl', fd, req, arg);
  } finally {
    setMask(ctx, mask);
  }
}

const getMask = (ctx: TaskCtx) => ptrace.getSigmask(ctx.tid);
const setMask = (ctx: TaskCtx, m: bigint) => ptrace.setSigmask(ctx.tid, m);

/** The job's outside terminal becomes cryo's own (its stdin); the job's group is put in front again if it was. */
function inheritTerminal(ctx: TaskCtx, info: MessageValue, why: string): number {
  const pidfd = Number(ctx.call('pidfd_open', process.pid, 0));
  let fd: number;
  try {
    fd = Number(ctx.call('pidfd_getfd', pidfd, 0, 0));
  } finally {
    ctx.call('close', pidfd);
  }
  setParams(ctx, fd, info, why);
  const done = ctx.tree.state('shell-job-foreground', () => ({ done: false }));
  const pgid = num(ctx.img.pstree.pgid);
  if (!done.done && num(info.pgrp) !== 0 && num(info.pgrp) === pgid) {
    done.done = true;
    const now = ctx.call('getpgid', 0);
    const at = ctx.put(int32(Number(now)), AT_STRUCT);
    const r = ioctlQuiet(ctx, fd, TIOCSPGRP, at);
    if (r < 0n) throw new RestoreError('FAILED', `cannot put process group ${now} in the foreground of cryo's terminal (${why}): errno ${-r}`);
  }
  return fd;
}

function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  writeI32(b, v, 0);
  return b;
}

/** termios, locked termios and window size from the image onto a tty of the task. */
function setParams(ctx: TaskCtx, fd: number, info: MessageValue, why: string): void {
  const set = (req: number, data: Buffer, what: string) => {
    const r = ioctlQuiet(ctx, fd, req, ctx.put(data, AT_STRUCT));
    if (r < 0n) throw new RestoreError('FAILED', `cannot set the ${what} of the terminal of ${why}: errno ${-r}`);
  };
  if (info.termios_locked) {
    const want = termiosBytes(info.termios_locked as MessageValue);
    const r = ioctlQuiet(ctx, fd, TIOCSLCKTRMIOS, ctx.put(want, AT_STRUCT));
    // Needs CAP_SYS_ADMIN; an unchanged lock needs nothing (as CRIU).
    if (r < 0n) {
      ctx.call('ioctl', fd, TIOCGLCKTRMIOS, ctx.put(Buffer.alloc(TERMIOS_SIZE), AT_STRUCT));
      if (!ctx.get(AT_STRUCT, TERMIOS_SIZE).equals(want)) throw new RestoreError('FAILED', `cannot set the locked termios of the terminal of ${why}: errno ${-r}`);
    }
  }
  if (info.termios) set(TCSETS, termiosBytes(info.termios as MessageValue), 'termios');
  if (info.winsize) set(TIOCSWINSZ, winsizeBytes(info.winsize as MessageValue), 'window size');
}

/** A new pair for old index `oldIndex`, made in `ctx`, its ends parked at `high` or above. */
function makePair(ctx: TaskCtx, oldIndex: number, high: number): Pair {
  const what = `pty ${oldIndex}`;
  const master = park(ctx, openInTask(ctx, '/dev/ptmx', O_RDWR | O_NOCTTY | O_CLOEXEC, what), high);
  ctx.call('ioctl', master, TIOCSPTLCK, ctx.put(int32(0), AT_STRUCT));
  ctx.call('ioctl', master, TIOCGPTN, ctx.put(int32(-1), AT_STRUCT));
  const index = readI32(ctx.get(AT_STRUCT, 4), 0);
  const slave = park(ctx, openInTask(ctx, `/dev/pts/${index}`, O_RDWR | O_NOCTTY | O_CLOEXEC, what), high);
  return setUpPair({ ctx, master, slave, index }, oldIndex);
}

/** The pair a session leader made during the tree build (tty-early.ts), if there is one for `oldIndex`. */
function earlyPair(ctx: TaskCtx, oldIndex: number): Pair | undefined {
  const early = ctx.tree.state('earlyPtys', () => new Map<number, EarlyPair>()).get(oldIndex);
  const leader = early && ctx.tree.state('ctxByPid', () => new Map<number, TaskCtx>()).get(early.pid);
  return early && leader && setUpPair({ ctx: leader, master: early.master, slave: early.slave, index: early.index }, oldIndex);
}

/** Parameters of a new pair from the image; the rest once every descriptor is placed. */
function setUpPair(p: Pair, oldIndex: number): Pair {
  const { ctx, master, slave } = p;
  const img = ctx.img;
  const mInfo = infoOf(img, oldIndex * 2 + 1);
  const sInfo = infoOf(img, oldIndex * 2);
  const what = `pty ${oldIndex}`;
  const info = sInfo ?? mInfo;
  if (info) setParams(ctx, slave, info, what);
  if (sInfo?.uid !== undefined && sInfo.gid !== undefined) ctx.call('fchown', slave, num(sInfo.uid), num(sInfo.gid));
  if (mInfo?.packet_mode) ctx.call('ioctl', master, TIOCPKT, ctx.put(int32(1), AT_STRUCT));
  ctx.tree.later(() => finishPair(p, oldIndex, mInfo, sInfo));
  return p;
}

/** Once every descriptor exists: queued bytes, lock and exclusive flags, controlling terminal, then the parked ends go. */
function finishPair(p: Pair, oldIndex: number, mInfo: MessageValue | undefined, sInfo: MessageValue | undefined): void {
  const { ctx } = p;
  const data = ctx.img.all.get('tty-data.img')?.entries ?? [];
  for (const { value: d } of data) {
    const from = num(d.tty_id);
    if (from >> 1 !== oldIndex || !Buffer.isBuffer(d.data)) continue;
    // Bytes read from one end were on their way to it: they are written into the other end.
    writeInTask(ctx, (from & 1) ? p.slave : p.master, d.data);
  }
  if (mInfo?.locked) ctx.call('ioctl', p.master, TIOCSPTLCK, ctx.put(int32(1), AT_STRUCT));
  // The end that tells the session: the master always, the slave only to its own session.
  const info = [sInfo, mInfo].find((i) => num(i?.sid) !== 0);
  const sid = num(info?.sid);
  const leader = sid !== 0 ? ctx.tree.state('ctxByPid', () => new Map<number, TaskCtx>()).get(sid) : undefined;
  if (leader) {
    // The session leader makes it its controlling terminal (it has none: it was made by setsid),
    // or has it already (tty-early.ts): then TIOCSCTTY does nothing.
    const fd = openInTask(leader, `/dev/pts/${p.index}`, O_RDWR | O_NOCTTY | O_CLOEXEC, `the controlling terminal of session ${sid}`);
    try {
      leader.call('ioctl', fd, TIOCSCTTY, 1);
      const pgrp = num(info?.pgrp);
      if (pgrp !== 0) {
        const r = ioctlQuiet(leader, fd, TIOCSPGRP, leader.put(int32(pgrp), AT_STRUCT));
        if (r < 0n) throw new RestoreError('FAILED', `cannot put process group ${pgrp} in the foreground of pty ${oldIndex}: errno ${-r}`);
      }
    } finally {
      leader.call('close', fd);
    }
  } else if (sid !== 0) {
    ctx.warn(`pty ${oldIndex} controlled session ${sid}, which is not in the dump: it is nobody's controlling terminal now`);
  }
  // Exclusive last: the leader's open above would need CAP_SYS_ADMIN after it.
  if (mInfo?.exclusive) ctx.call('ioctl', p.master, TIOCEXCL, 0);
  if (sInfo?.exclusive) ctx.call('ioctl', p.slave, TIOCEXCL, 0);
  ctx.call('close', p.master);
  ctx.call('close', p.slave);
}

/** A pty end in the task: the master of the pair made for its old index, or the slave opened by the new one. */
export function restoreTty(c: RestoreFd): number {
  const { ctx, entry, why } = c;
  const id = num(entry.tty_info_id);
  const info = ttyInfo(ctx.img, id, why);
  if (info.type === 'CTTY') return restoreCtty(c);
  if (isHungSlave(ctx.img, id)) return restoreHungSlave(c, info);
  if (isOutsideSlave(ctx.img, id)) return inheritTerminal(ctx, info, why);
  const oldIndex = num((info.pty as MessageValue).index);
  const pairs = ctx.tree.state('ptys', () => new Map<number, Pair>());
  let p = pairs.get(oldIndex);
  if (!p) {
    p = earlyPair(ctx, oldIndex) ?? makePair(ctx, oldIndex, c.session.high);
    pairs.set(oldIndex, p);
  }
  const flags = num(entry.flags);
  let fd: number;
  if (id & 1) {
    fd = p.ctx === ctx ? Number(ctx.call('fcntl', p.master, F_DUPFD_CLOEXEC, 0)) : ctx.importFd(p.ctx, p.master);
    ctx.call('fcntl', fd, F_SETFL, flags & ~O_ACCMODE);
  } else {
    fd = openInTask(ctx, `/dev/pts/${p.index}`, (flags & ~O_OPEN_ONLY) | O_NOCTTY, why);
  }
  return fd;
}

function writeInTask(ctx: TaskCtx, fd: number, data: Buffer): void {
  for (let off = 0; off < data.length;) {
    const chunk = data.subarray(off, off + DATA_CHUNK);
    const n = ctx.raw('write', fd, ctx.put(chunk, AT_DATA), chunk.length);
    if (n <= 0n) {
      ctx.warn(`${data.length - off} bytes queued on a pty could not be written back (errno ${-n}): lost, as with CRIU`);
      return;
    }
    off += Number(n);
  }
}
