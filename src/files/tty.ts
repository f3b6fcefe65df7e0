// Unix98 ptys (TTY, tty_file_entry + tty-info.img + tty-data.img, as CRIU 4.2 writes them).
//
// Dump: each end (the /dev/ptmx master, a /dev/pts/N slave) gets a tty_info_entry, id
// index*2+1 for the master and index*2 for the slave: termios, locked termios, window size,
// packet mode, lock and exclusive flags, and the session/foreground group it controls. Bytes
// queued in a pair held inside the dump are read out (tty-data.img, by the id of the end they
// were read from) and written back if the task runs on, as CRIU does. A slave whose master is
// outside the dump is the terminal of the shell the job ran in: dumped only with --shell-job.
//
// Restore: a pair is made once per old index (the new index may differ: slaves are opened by the
// new number): /dev/ptmx opened in the task, unlocked, termios and window size set, packet mode;
// once every descriptor is placed the queued bytes are written to the other end, lock and
// exclusive flags set again, and the session leader makes it its controlling terminal with the
// foreground group it had. With --shell-job the outside slave becomes cryo's own terminal (its
// stdin) and the job's group is put in the foreground again if it was there.
import { isatty } from 'node:tty';
import { readSync, writeSync, closeSync } from 'node:fs';
import { readStat } from '../proc/index.js';
import { ptrace, rawSyscall, SysError } from '../sys/index.js';
import type { MessageValue } from '../images/value.js';
import { DumpError } from '../shared/dump-error.js';
import type { FileTable } from '../shared/file-table.js';
import { major, minor } from '../shared/file-table.js';
import { RestoreError } from '../shared/restore-error.js';
import { openInTask } from '../shared/task-ctx.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { DumpFd, FdKind } from './kind.js';
import { O_ACCMODE, O_CLOEXEC, O_NOCTTY, O_OPEN_ONLY, O_RDWR, F_DUPFD_CLOEXEC, F_SETFL, num } from '../shared/constants.js';
import { park } from './pipe-data.js';
import {
  FIONREAD, TCGETS, TCSETS, TERMIOS_SIZE, TIOCEXCL, TIOCGEXCL, TIOCGLCKTRMIOS, TIOCGPGRP, TIOCGPKT, TIOCGPTLCK, TIOCGPTN,
  TIOCGSID, TIOCGWINSZ, TIOCPKT, TIOCSCTTY, TIOCSLCKTRMIOS, TIOCSPGRP, TIOCSPTLCK, TIOCSWINSZ, WINSIZE_SIZE,
  termiosBytes, termiosEntry, winsizeBytes, winsizeEntry,
} from './tty-ioctl.js';
import { readI32, writeI32 } from '../sys/native-endian.js';

const TTYAUX_MAJOR = 5;
const PTMX_MINOR = 2;
const PTS_MAJOR_FIRST = 136;
const PTS_MAJOR_LAST = 143;
const SIGTTOU = 22;
/** CRIU's limit on the bytes read from one end of a pair. */
const DATA_LIMIT = 16384;
/** Where tty structs and data are staged in the scratch area. */
const AT_STRUCT = 4096;
const AT_DATA = 8192;
const DATA_CHUNK = 8192;

const isPtmx = (rdev: bigint) => major(rdev) === TTYAUX_MAJOR && minor(rdev) === PTMX_MINOR;
const isPts = (rdev: bigint) => major(rdev) >= PTS_MAJOR_FIRST && major(rdev) <= PTS_MAJOR_LAST;
const ptsIndex = (rdev: bigint) => (major(rdev) - PTS_MAJOR_FIRST) * 256 + minor(rdev);
/** /proc/PID/stat's tty_nr of a device (the kernel's new_encode_dev). */
const encodeDev = (rdev: bigint) => (minor(rdev) & 0xff) | (major(rdev) << 8) | ((minor(rdev) & ~0xff) << 12);

/** One end of a pty seen by the dump: cryo's own copy of it, for the queued bytes. */
interface End { fd: number; infoId: number; pid: number; tfd: number; packet: boolean }

interface TtyDump {
  /** tty-info.img: one entry per end (id index*2+1 master, index*2 slave). */
  infos: MessageValue[];
  ends: Map<number, { master?: End; slave?: End }>;
}

const dumps = new WeakMap<FileTable, TtyDump>();

function dumpState(table: FileTable): TtyDump {
  let s = dumps.get(table);
  if (!s) {
    s = { infos: [], ends: new Map() };
    dumps.set(table, s);
  }
  return s;
}

/** An int-returning tty ioctl on cryo's copy; `fallback` where the tty does not know it (ENOTTY). */
function ioctlInt(fd: number, req: number, fallback: number): number {
  const b = Buffer.alloc(4);
  try {
    rawSyscall('ioctl', fd, req, b);
  } catch (e) {
    if (e instanceof SysError && (e.code === 'ENOTTY' || e.code === 'EINVAL')) return fallback;
    throw e;
  }
  return readI32(b, 0);
}

function ioctlBuf(fd: number, req: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  rawSyscall('ioctl', fd, req, b);
  return b;
}

/** The session and foreground group a tty controls, as the task holding it would read them. */
function controls(c: DumpFd, master: boolean): { sid: number; pgrp: number } {
  if (master) {
    // The master tells anyone about its slave's session (TIOCGSID/TIOCGPGRP).
    return { sid: Math.max(0, ioctlInt(c.stolen, TIOCGSID, 0)), pgrp: Math.max(0, ioctlInt(c.stolen, TIOCGPGRP, 0)) };
  }
  // The slave only tells its own session: the holder's /proc stat names its controlling tty.
  const st = readStat(c.pid);
  if (st.ttyNr !== encodeDev(BigInt(c.st.rdev))) return { sid: 0, pgrp: 0 };
  return { sid: st.session, pgrp: Math.max(0, st.tpgid) };
}

function infoEntry(c: DumpFd, id: number, index: number, master: boolean): MessageValue {
  const { sid, pgrp } = controls(c, master);
  const info: MessageValue = {
    id, type: 'PTY',
    locked: master && ioctlInt(c.stolen, TIOCGPTLCK, 0) !== 0,
    exclusive: ioctlInt(c.stolen, TIOCGEXCL, 0) !== 0,
    packet_mode: master && ioctlInt(c.stolen, TIOCGPKT, 0) !== 0,
    sid, pgrp, rdev: Number(BigInt(c.st.rdev) & 0xffffffffn),
  };
  try {
    info.termios = termiosEntry(ioctlBuf(c.stolen, TCGETS, TERMIOS_SIZE));
    info.termios_locked = termiosEntry(ioctlBuf(c.stolen, TIOCGLCKTRMIOS, TERMIOS_SIZE));
    info.winsize = winsizeEntry(ioctlBuf(c.stolen, TIOCGWINSZ, WINSIZE_SIZE));
  } catch (e) {
    // A hung-up terminal answers EIO: only what is known is written (as CRIU).
    if (!(e instanceof SysError && e.code === 'EIO')) throw e;
  }
  info.pty = { index };
  info.dev = Number(BigInt(c.st.dev) & 0xffffffffn);
  info.uid = Number(c.st.uid);
  info.gid = Number(c.st.gid);
  return info;
}

/** Reads what is queued on one end of a pair (never blocks: FIONREAD says what is there). */
function drain(fd: number): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const n = Math.min(ioctlInt(fd, FIONREAD, 0), DATA_LIMIT - total);
    if (n <= 0) break;
    const b = Buffer.alloc(n);
    const got = readSync(fd, b, 0, n, null);
    if (got <= 0) break;
    parts.push(b.subarray(0, got));
    total += got;
  }
  return Buffer.concat(parts);
}

function writeAll(fd: number, data: Buffer): void {
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off);
  } catch { /* a tty never guaranteed delivery: as CRIU, the bytes are lost */ }
}

export const ttyKind: FdKind = {
  type: 'TTY', field: 'tty', name: 'a pty (master or slave)',
  matches: (c) => c.target.kind === 'path' && c.st.isCharacterDevice() && (isPtmx(BigInt(c.st.rdev)) || isPts(BigInt(c.st.rdev))),
  dump(c) {
    const s = dumpState(c.table);
    const rdev = BigInt(c.st.rdev);
    const master = isPtmx(rdev);
    const index = master ? ioctlInt(c.stolen, TIOCGPTN, -1) : ptsIndex(rdev);
    if (index < 0) throw new DumpError('FAILED', `fd ${c.fd} of task ${c.pid}: cannot read the pty index of ${(c.target as { path: string }).path}`);
    const infoId = index * 2 + (master ? 1 : 0);
    // CRIU also names the device node the end was opened from (a REG entry, regf_id).
    const regfId = c.table.newId();
    c.table.addReg(regfId, c.procFd, (c.target as { path: string }).path, c.flags, 0n, c.fown);
    if (!s.infos.some((i) => i.id === infoId)) s.infos.push(infoEntry(c, infoId, index, master));
    const pair = s.ends.get(index) ?? {};
    s.ends.set(index, pair);
    const side = master ? 'master' : 'slave';
    if (!pair[side]) {
      const fd = Number(rawSyscall('fcntl', c.stolen, F_DUPFD_CLOEXEC, 0));
      const packet = s.infos.find((i) => i.id === infoId)!.packet_mode === true;
      pair[side] = { fd, infoId, pid: c.pid, tfd: c.fd, packet };
      c.table.finishers.push(() => closeSync(fd));
    }
    return { id: c.id, tty_info_id: infoId, flags: c.flags, fown: c.fown, regf_id: regfId };
  },
  check(img, entry, why) {
    const info = ttyInfo(img, num(entry.tty_info_id), why);
    if (info.type !== 'PTY' || !info.pty) {
      throw new RestoreError('UNSUPPORTED', `${why} is a ${String(info.type)} terminal: cryo restores ptys only`);
    }
    if (!isOutsideSlave(img, num(entry.tty_info_id))) return;
    if (!img.fdOptions?.shellJob) {
      throw new RestoreError('UNSUPPORTED', `${why} is the terminal of the shell the job ran in (pts ${num((info.pty as MessageValue).index)}): restore with --shell-job (shellJob) to give it cryo's terminal`);
    }
    checkOwnTerminal(why);
  },
  restore(c) {
    const { ctx, entry, why } = c;
    const id = num(entry.tty_info_id);
    const info = ttyInfo(ctx.img, id, why);
    if (isOutsideSlave(ctx.img, id)) return inheritTerminal(ctx, info, why);
    const oldIndex = num((info.pty as MessageValue).index);
    const pairs = ctx.tree.state('ptys', () => new Map<number, Pair>());
    let p = pairs.get(oldIndex);
    if (!p) {
      p = makePair(ctx, oldIndex, c.session.high);
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
  },
};

/** A pair made in one process of the tree: its ends parked there until every descriptor is placed. */
interface Pair { ctx: TaskCtx; master: number; slave: number; index: number }

function ttyInfo(img: RestoreImages, id: number, why: string): MessageValue {
  const info = img.all.get('tty-info.img')?.entries.find((e) => num(e.value.id) === id)?.value;
  if (!info) throw new RestoreError('IMAGE_INCONSISTENT', `tty-info.img has no entry ${id} for the terminal of ${why}`);
  return info;
}

const infoOf = (img: RestoreImages, id: number) => img.all.get('tty-info.img')?.entries.find((e) => num(e.value.id) === id)?.value;

/** A slave whose master is not in the dump (the terminal the job ran on). */
function isOutsideSlave(img: RestoreImages, id: number): boolean {
  return (id & 1) === 0 && infoOf(img, id + 1) === undefined;
}

/** --shell-job needs cryo's stdin to be its controlling terminal: that is what the job gets. */
function checkOwnTerminal(why: string): void {
  if (!isatty(0)) throw new RestoreError('UNSUPPORTED', `${why} was the job's terminal, but cryo's stdin is not a terminal: run cryo restore --shell-job from a terminal`);
  try {
    rawSyscall('ioctl', 0, TIOCGSID, Buffer.alloc(4));
  } catch {
    throw new RestoreError('UNSUPPORTED', `${why} was the job's terminal, but cryo's stdin is not its controlling terminal: run cryo restore --shell-job from the shell of that terminal`);
  }
}

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
  const img = ctx.img;
  const mInfo = infoOf(img, oldIndex * 2 + 1);
  const sInfo = infoOf(img, oldIndex * 2);
  const what = `pty ${oldIndex}`;
  const master = park(ctx, openInTask(ctx, '/dev/ptmx', O_RDWR | O_NOCTTY | O_CLOEXEC, what), high);
  ctx.call('ioctl', master, TIOCSPTLCK, ctx.put(int32(0), AT_STRUCT));
  ctx.call('ioctl', master, TIOCGPTN, ctx.put(int32(-1), AT_STRUCT));
  const index = readI32(ctx.get(AT_STRUCT, 4), 0);
  const slave = park(ctx, openInTask(ctx, `/dev/pts/${index}`, O_RDWR | O_NOCTTY | O_CLOEXEC, what), high);
  const info = sInfo ?? mInfo;
  if (info) setParams(ctx, slave, info, what);
  if (sInfo?.uid !== undefined && sInfo.gid !== undefined) ctx.call('fchown', slave, num(sInfo.uid), num(sInfo.gid));
  if (mInfo?.packet_mode) ctx.call('ioctl', master, TIOCPKT, ctx.put(int32(1), AT_STRUCT));
  const p: Pair = { ctx, master, slave, index };
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
    // The session leader makes it its controlling terminal (it has none: it was made by setsid).
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

/**
 * The end of a dump's descriptors (src/dump/index.ts calls it before writing): refuses a slave
 * whose master is outside the dump without shellJob, and ttys controlling a session the dump
 * leaves out; reads the queued bytes of every pair held inside (written back if the task runs on).
 */
export function finishTtys(table: FileTable, pids: ReadonlySet<number>, shellJob: boolean): void {
  const s = dumps.get(table);
  if (!s) return;
  let outside = 0;
  for (const [index, pair] of s.ends) {
    if (pair.slave && !pair.master) {
      if (!shellJob) {
        throw new DumpError('UNSUPPORTED', `fd ${pair.slave.tfd} of process ${pair.slave.pid} is /dev/pts/${index}, a terminal whose master is outside the dump (the shell's terminal): pass --shell-job (shellJob) to dump it; restore then gives the job cryo's terminal`);
      }
      if (++outside > 1) throw new DumpError('UNSUPPORTED', `the dump holds two terminals whose masters are outside it (/dev/pts/${index} and another): cryo (like CRIU) gives a shell job only one`);
    }
  }
  for (const info of s.infos) {
    const sid = num(info.sid);
    if (sid !== 0 && !pids.has(sid) && !shellJob) {
      throw new DumpError('UNSUPPORTED', `pty ${num((info.pty as MessageValue).index)} is the controlling terminal of session ${sid}, led by a process outside the dump: dump from the session leader, or pass --shell-job (shellJob)`);
    }
  }
  table.images.push({ key: 'ttyInfo', id: 0, magic: 'TTY_INFO', entries: s.infos.map((value) => ({ value })) });
  const data: MessageValue[] = [];
  const read: { data: Buffer; peer: End }[] = [];
  for (const pair of s.ends.values()) {
    if (!pair.master || !pair.slave) continue;
    for (const [end, peer] of [[pair.master, pair.slave], [pair.slave, pair.master]] as const) {
      // A master in packet mode prefixes every read with a status byte: nothing to read as data.
      if (end.packet) continue;
      const bytes = drain(end.fd);
      if (bytes.length === 0) continue;
      read.push({ data: bytes, peer });
      data.push({ tty_id: end.infoId, data: bytes });
    }
  }
  if (data.length > 0) table.images.push({ key: 'ttyData', id: 0, magic: 'TTY_DATA', entries: data.map((value) => ({ value })) });
  // First among the finishers: the copies it writes through are closed by later ones.
  table.finishers.unshift((taskRunsOn) => {
    if (!taskRunsOn) return;
    for (const r of read) writeAll(r.peer.fd, r.data);
  });
}
