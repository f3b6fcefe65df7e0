// /proc/PID/fdinfo/N: common fields plus the lines of each descriptor kind.
import { parseLockLine, type FileLock } from './locks.js';
import { procPath, readProcText, type Pid } from './read.js';

export interface EpollTarget {
  tfd: number;
  events: number;
  data: bigint;
  /** pos/ino/sdev: kernels >= 4.x print them; null when absent. */
  pos: bigint | null;
  inode: bigint | null;
  /** Kernel-internal dev_t (major << 20 | minor). */
  sdev: number | null;
}

export interface FileHandle {
  bytes: number;
  type: number;
  handle: Buffer;
}

export interface InotifyWatch {
  wd: number;
  inode: bigint;
  /** Kernel-internal dev_t (major << 20 | minor). */
  sdev: number;
  mask: number;
  ignoredMask: number;
  fhandle: FileHandle | null;
}

export type FanotifyMark =
  | { type: 'inode'; inode: bigint; sdev: number; mflags: number; mask: number; ignoredMask: number; fhandle: FileHandle | null }
  | { type: 'mount'; mntId: number; mflags: number; mask: number; ignoredMask: number }
  | { type: 'sb'; sdev: number; mflags: number; mask: number; ignoredMask: number };

export interface Timespec {
  sec: bigint;
  nsec: number;
}

export interface Fdinfo {
  pos: bigint;
  /** f_flags in the kernel's numbering (printed octal). */
  flags: number;
  mntId: number;
  /** Absent on kernels before 5.3. */
  inode: bigint | null;
  locks: FileLock[];
  eventfd?: { count: bigint; id: number | null; semaphore: boolean | null };
  /** Present for epoll descriptors (possibly empty). */
  epoll?: EpollTarget[];
  signalfd?: { sigmask: bigint };
  timerfd?: { clockId: number; ticks: bigint; settimeFlags: number; value: Timespec; interval: Timespec };
  /** Present for inotify descriptors with watches. */
  inotify?: InotifyWatch[];
  fanotify?: { flags: number; eventFlags: number; marks: FanotifyMark[] };
  pidfd?: { pid: number; nsPid: number[] };
  /** Every other "key: value" line (bpf map_type, tty-index, ...), value trimmed. */
  other: Record<string, string>;
}

/** "a:1 b:  2 c:3" -> {a:'1', b:'2', c:'3'} */
function tokens(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of s.replace(/:\s+/g, ':').trim().split(/\s+/)) {
    const c = t.indexOf(':');
    if (c > 0) out[t.slice(0, c)] = t.slice(c + 1);
  }
  return out;
}

const hex = (s: string | undefined) => parseInt(s ?? '0', 16);
const hexBig = (s: string | undefined) => BigInt('0x' + (s ?? '0'));

function fhandle(t: Record<string, string>): FileHandle | null {
  if (t['fhandle-bytes'] === undefined) return null;
  return { bytes: hex(t['fhandle-bytes']), type: hex(t['fhandle-type']), handle: Buffer.from(t.f_handle ?? '', 'hex') };
}

function timespec(s: string): Timespec {
  const m = /\((\d+),\s*(\d+)\)/.exec(s);
  if (!m) throw new Error(`unexpected timespec in fdinfo: ${JSON.stringify(s)}`);
  return { sec: BigInt(m[1]!), nsec: Number(m[2]) };
}

export function parseFdinfo(text: string): Fdinfo {
  const info: Fdinfo = { pos: 0n, flags: 0, mntId: 0, inode: null, locks: [], other: {} };
  const timer: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('tfd:')) {
      const t = tokens(line);
      (info.epoll ??= []).push({
        tfd: Number(t.tfd),
        events: hex(t.events),
        data: hexBig(t.data),
        pos: t.pos === undefined ? null : BigInt(t.pos),
        inode: t.ino === undefined ? null : hexBig(t.ino),
        sdev: t.sdev === undefined ? null : hex(t.sdev),
      });
      continue;
    }
    if (line.startsWith('inotify ')) {
      const t = tokens(line.slice(8));
      (info.inotify ??= []).push({
        wd: hex(t.wd),
        inode: hexBig(t.ino),
        sdev: hex(t.sdev),
        mask: hex(t.mask),
        ignoredMask: hex(t.ignored_mask),
        fhandle: fhandle(t),
      });
      continue;
    }
    if (line.startsWith('fanotify ')) {
      const t = tokens(line.slice(9));
      const fa = (info.fanotify ??= { flags: 0, eventFlags: 0, marks: [] });
      const common = { mflags: hex(t.mflags), mask: hex(t.mask), ignoredMask: hex(t.ignored_mask) };
      if (t.flags !== undefined) {
        fa.flags = hex(t.flags);
        fa.eventFlags = hex(t['event-flags']);
      } else if (t.ino !== undefined) fa.marks.push({ type: 'inode', inode: hexBig(t.ino), sdev: hex(t.sdev), ...common, fhandle: fhandle(t) });
      else if (t.mnt_id !== undefined) fa.marks.push({ type: 'mount', mntId: hex(t.mnt_id), ...common });
      else if (t.sdev !== undefined) fa.marks.push({ type: 'sb', sdev: hex(t.sdev), ...common });
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    switch (key) {
      case 'pos': info.pos = BigInt(value); break;
      case 'flags': info.flags = parseInt(value, 8); break;
      case 'mnt_id': info.mntId = Number(value); break;
      case 'ino': info.inode = BigInt(value); break;
      case 'lock': {
        const l = parseLockLine(value);
        if (l) info.locks.push(l);
        break;
      }
      case 'eventfd-count': (info.eventfd ??= { count: 0n, id: null, semaphore: null }).count = hexBig(value); break;
      case 'eventfd-id': (info.eventfd ??= { count: 0n, id: null, semaphore: null }).id = Number(value); break;
      case 'eventfd-semaphore': (info.eventfd ??= { count: 0n, id: null, semaphore: null }).semaphore = value === '1'; break;
      case 'sigmask': info.signalfd = { sigmask: hexBig(value) }; break;
      case 'clockid': case 'ticks': case 'settime flags': case 'it_value': case 'it_interval': timer[key] = value; break;
      case 'Pid': (info.pidfd ??= { pid: 0, nsPid: [] }).pid = Number(value); break;
      case 'NSpid': (info.pidfd ??= { pid: 0, nsPid: [] }).nsPid = value.split(/\s+/).map(Number); break;
      default: info.other[key] = value;
    }
  }
  if (timer.clockid !== undefined) {
    info.timerfd = {
      clockId: Number(timer.clockid),
      ticks: BigInt(timer.ticks ?? 0),
      settimeFlags: parseInt(timer['settime flags'] ?? '0', 8),
      value: timespec(timer.it_value ?? '(0, 0)'),
      interval: timespec(timer.it_interval ?? '(0, 0)'),
    };
  }
  return info;
}

export function readFdinfo(pid: Pid, fd: number): Fdinfo {
  return parseFdinfo(readProcText(procPath(pid, `fdinfo/${fd}`)));
}
