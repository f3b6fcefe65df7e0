// Dump of pty ends: a tty_info_entry per end (termios, window size, packet mode, lock and
// exclusive flags, the session it controls), and at the end of the dump the bytes queued in each
// pair held inside it (tty-data.img), written back if the task runs on.
import { readSync, writeSync, closeSync } from 'node:fs';
import { readStat } from '../proc/index.js';
import { rawSyscall, SysError } from '../sys/index.js';
import type { MessageValue } from '../images/value.js';
import { DumpError } from '../shared/dump-error.js';
import type { FileTable } from '../shared/file-table.js';
import type { DumpFd } from './kind.js';
import { F_DUPFD_CLOEXEC, num } from '../shared/constants.js';
import { FIONREAD, TCGETS, TERMIOS_SIZE, TIOCGEXCL, TIOCGLCKTRMIOS, TIOCGPGRP, TIOCGPKT, TIOCGPTLCK, TIOCGPTN, TIOCGSID, TIOCGWINSZ, WINSIZE_SIZE, termiosEntry, winsizeEntry } from './tty-ioctl.js';
import { readI32 } from '../sys/native-endian.js';
import { CTTY_INFO_ID, cttyIndex, cttyInfo, isDevTty } from './ctty.js';
import { DATA_LIMIT, encodeDev, isPtmx, ptsIndex } from './tty-pty.js';

/** One end of a pty seen by the dump: cryo's own copy of it, for the queued bytes. */
interface End { fd: number; infoId: number; pid: number; tfd: number; packet: boolean }

interface TtyDump {
  /** tty-info.img: one entry per end (id index*2+1 master, index*2 slave). */
  infos: MessageValue[];
  ends: Map<number, { master?: End; slave?: End }>;
  /** /dev/tty descriptors: the pty index each reaches. */
  cttys: { pid: number; fd: number; index: number }[];
}

const dumps = new WeakMap<FileTable, TtyDump>();

function dumpState(table: FileTable): TtyDump {
  let s = dumps.get(table);
  if (!s) {
    s = { infos: [], ends: new Map(), cttys: [] };
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

/** The end was hung up (its master closed, or vhangup): every ioctl answers EIO. */
function hungUp(fd: number): boolean {
  try {
    ioctlBuf(fd, TCGETS, TERMIOS_SIZE);
    return false;
  } catch (e) {
    if (e instanceof SysError && e.code === 'EIO') return true;
    throw e;
  }
}

function infoEntry(c: DumpFd, id: number, index: number, master: boolean): MessageValue {
  const { sid, pgrp } = controls(c, master);
  if (hungUp(c.stolen)) {
    // Only what is known, without termios (as CRIU): restore makes a slave hung up the same way.
    return {
      id, type: 'PTY', locked: false, exclusive: false, packet_mode: false, sid, pgrp, rdev: Number(BigInt(c.st.rdev) & 0xffffffffn),
      pty: { index }, dev: Number(BigInt(c.st.dev) & 0xffffffffn), uid: Number(c.st.uid), gid: Number(c.st.gid),
    };
  }
  const info: MessageValue = {
    id, type: 'PTY',
    locked: master && ioctlInt(c.stolen, TIOCGPTLCK, 0) !== 0,
    exclusive: ioctlInt(c.stolen, TIOCGEXCL, 0) !== 0,
    packet_mode: master && ioctlInt(c.stolen, TIOCGPKT, 0) !== 0,
    sid, pgrp, rdev: Number(BigInt(c.st.rdev) & 0xffffffffn),
  };
  info.termios = termiosEntry(ioctlBuf(c.stolen, TCGETS, TERMIOS_SIZE));
  info.termios_locked = termiosEntry(ioctlBuf(c.stolen, TIOCGLCKTRMIOS, TERMIOS_SIZE));
  info.winsize = winsizeEntry(ioctlBuf(c.stolen, TIOCGWINSZ, WINSIZE_SIZE));
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

/** One end of a pty: its tty_info_entry (once per end), a REG entry for its node, a copy to drain it. */
export function dumpTty(c: DumpFd): MessageValue {
  const s = dumpState(c.table);
  const rdev = BigInt(c.st.rdev);
  if (isDevTty(rdev)) {
    s.cttys.push({ pid: c.pid, fd: c.fd, index: cttyIndex(c) });
    if (!s.infos.some((i) => i.id === CTTY_INFO_ID)) s.infos.push(cttyInfo(c));
    const regfId = c.table.newId();
    c.table.addReg(regfId, c.procFd, '/dev/tty', c.flags, 0n, c.fown);
    return { id: c.id, tty_info_id: CTTY_INFO_ID, flags: c.flags, fown: c.fown, regf_id: regfId };
  }
  const master = isPtmx(rdev);
  const index = master ? ioctlInt(c.stolen, TIOCGPTN, -1) : ptsIndex(rdev);
  if (index < 0) throw new DumpError('FAILED', `fd ${c.fd} of task ${c.pid}: cannot read the pty index of ${(c.target as { path: string }).path}`);
  const infoId = index * 2 + (master ? 1 : 0);
  // CRIU also names the device node the end was opened from (a REG entry, regf_id).
  const regfId = c.table.newId();
  // A hung-up slave's node is gone (the kernel removes it with the master): named, not copied as a deleted file.
  if (!master && hungUp(c.stolen)) c.table.files.push({ type: 'REG', id: regfId, reg: { id: regfId, flags: c.flags, pos: 0n, fown: c.fown, name: `/dev/pts/${index}`, mode: Number(c.st.mode) } });
  else c.table.addReg(regfId, c.procFd, (c.target as { path: string }).path, c.flags, 0n, c.fown);
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
  const hung = (end: End) => s.infos.find((i) => i.id === end.infoId)?.termios === undefined;
  for (const [index, pair] of s.ends) {
    if (pair.slave && hung(pair.slave)) {
      // Its master was closed: nothing outside holds it. A slave hung up under a live master (vhangup) is another matter.
      if (pair.master) throw new DumpError('UNSUPPORTED', `fd ${pair.slave.tfd} of process ${pair.slave.pid} is /dev/pts/${index}, hung up while its master (fd ${pair.master.tfd} of process ${pair.master.pid}) is open: cryo cannot dump that yet`);
      continue;
    }
    if (pair.slave && !pair.master) {
      if (!shellJob) {
        throw new DumpError('UNSUPPORTED', `fd ${pair.slave.tfd} of process ${pair.slave.pid} is /dev/pts/${index}, a terminal whose master is outside the dump (the shell's terminal): pass --shell-job (shellJob) to dump it; restore then gives the job cryo's terminal`);
      }
      if (++outside > 1) throw new DumpError('UNSUPPORTED', `the dump holds two terminals whose masters are outside it (/dev/pts/${index} and another): cryo (like CRIU) gives a shell job only one`);
    }
  }
  for (const t of s.cttys) {
    if (!s.ends.get(t.index)?.master && !shellJob) {
      throw new DumpError('UNSUPPORTED', `fd ${t.fd} of process ${t.pid} is /dev/tty, whose terminal /dev/pts/${t.index} has its master outside the dump (the shell's terminal): pass --shell-job (shellJob) to dump it`);
    }
  }
  for (const info of s.infos) {
    if (info.type === 'CTTY') continue;
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
