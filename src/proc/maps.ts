// /proc/PID/maps and /proc/PID/smaps: one Vma per line (maps) or per block (smaps).
import { closeSync, openSync, readSync } from 'node:fs';
import { ProcReadError, procPath, readProcLink, readProcText, type Pid } from './read.js';
import { faultPoint } from '../fault.js';

/** What the name column of a VMA says it is. */
export type VmaNameKind =
  | 'anonymous' // no name at all
  | 'heap' // [heap]
  | 'stack' // [stack]
  | 'vdso'
  | 'vvar'
  | 'vvar_vclock' // kernel 6.13+
  | 'vsyscall'
  | 'uprobes'
  | 'anon-named' // [anon:NAME] from PR_SET_VMA_ANON_NAME
  | 'anon-shmem-named' // [anon_shmem:NAME]
  | 'special' // any other [name] (e.g. [vectors] on arm)
  | 'dev-zero' // /dev/zero (deleted): shared anonymous memory
  | 'sysv-shm' // /SYSV%08x (deleted)
  | 'memfd' // /memfd:NAME (deleted)
  | 'aio' // /[aio] (deleted)
  | 'file';

const BRACKET_KINDS: Record<string, VmaNameKind> = {
  '[heap]': 'heap',
  '[stack]': 'stack',
  '[vdso]': 'vdso',
  '[vvar]': 'vvar',
  '[vvar_vclock]': 'vvar_vclock',
  '[vsyscall]': 'vsyscall',
  '[uprobes]': 'uprobes',
};

export interface Vma {
  start: bigint;
  end: bigint;
  read: boolean;
  write: boolean;
  exec: boolean;
  /** 's' in the flags column (MAP_SHARED), else private ('p'). */
  shared: boolean;
  offset: bigint;
  devMajor: number;
  devMinor: number;
  inode: bigint;
  /** The name column with \012 unescaped and without ' (deleted)'; '' when there is none. */
  name: string;
  /** The name carried the ' (deleted)' suffix. */
  deleted: boolean;
  kind: VmaNameKind;
  /** For memfd: the memfd name; for anon-named: the name; for sysv-shm: the key. */
  label?: string;
  /** Present when parsed from smaps. */
  smaps?: SmapsInfo;
}

export interface SmapsInfo {
  /** Every "Key: N kB" line, in bytes, keyed as the kernel names it (Rss, Pss, AnonHugePages, ...). */
  sizes: Record<string, number>;
  rss: number;
  anonymous: number;
  anonHugePages: number;
  swap: number;
  /** THPeligible: null on kernels that do not print it. */
  thpEligible: boolean | null;
  protectionKey: number | null;
  /** Two-letter VmFlags mnemonics in kernel order (see VM_FLAG_NAMES). */
  vmFlags: readonly string[];
}

const DELETED = ' (deleted)';

/** True for a maps/smaps VMA header line (as opposed to an smaps field line). */
export function isVmaHeader(line: string): boolean {
  return /^[0-9a-f]+-[0-9a-f]+ /.test(line);
}

/** The kernel escapes only '\n' in maps names (as \012); backslashes are not escaped. */
function unescapeMapsName(s: string): string {
  return s.includes('\\') ? s.replace(/\\012/g, '\n') : s;
}

function classifyName(name: string): { kind: VmaNameKind; label?: string } {
  if (name === '') return { kind: 'anonymous' };
  const bracket = BRACKET_KINDS[name];
  if (bracket) return { kind: bracket };
  if (name.startsWith('[anon:') && name.endsWith(']')) return { kind: 'anon-named', label: name.slice(6, -1) };
  if (name.startsWith('[anon_shmem:') && name.endsWith(']')) return { kind: 'anon-shmem-named', label: name.slice(12, -1) };
  if (name.startsWith('[')) return { kind: 'special' };
  return { kind: 'file' };
}

/** Lowercase hex digits line[from, to) as a number, exact below 2^52; -1 if one is not such a digit, -2 if too many. */
function hexNumber(line: string, from: number, to: number): number {
  if (to <= from) return -1;
  if (to - from > 13) return -2;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** Lowercase hex digits line[from, to) as a bigint (any length); undefined if they are not. */
function hexBig(line: string, from: number, to: number): bigint | undefined {
  const n = hexNumber(line, from, to);
  if (n >= 0) return BigInt(n);
  if (n === -1) return undefined;
  const digits = line.slice(from, to);
  return /^[0-9a-f]+$/.test(digits) ? BigInt('0x' + digits) : undefined;
}

/** True when line[from, to) is one or more decimal digits. */
function decimal(line: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = line.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Parses one maps header line: `start-end perms offset major:minor inode [name]` (by hand, not by
 * a regular expression: a task with 20,000 mappings has as many lines, read twice per dump).
 */
const badMapsLine = (line: string) => new Error(`unexpected line in /proc/PID/maps: ${JSON.stringify(line)}`);

export function parseVmaLine(line: string): Vma {
  const bad = () => badMapsLine(line);
  const dash = line.indexOf('-');
  const afterEnd = line.indexOf(' ', dash + 1);
  if (dash <= 0 || afterEnd < 0 || line.charCodeAt(afterEnd + 5) !== 0x20) throw bad();
  const r = line[afterEnd + 1], w = line[afterEnd + 2], x = line[afterEnd + 3], s = line[afterEnd + 4];
  if ((r !== 'r' && r !== '-') || (w !== 'w' && w !== '-') || (x !== 'x' && x !== '-') || (s !== 's' && s !== 'p')) throw bad();
  const afterOffset = line.indexOf(' ', afterEnd + 6);
  const colon = line.indexOf(':', afterOffset + 1);
  const afterDev = colon < 0 ? -1 : line.indexOf(' ', colon + 1);
  let afterInode = afterDev < 0 ? -1 : line.indexOf(' ', afterDev + 1);
  if (afterDev < 0) throw bad();
  if (afterInode < 0) afterInode = line.length;
  const start = hexBig(line, 0, dash);
  const end = hexBig(line, dash + 1, afterEnd);
  const offset = hexBig(line, afterEnd + 6, afterOffset);
  const devMajor = hexNumber(line, afterOffset + 1, colon);
  const devMinor = hexNumber(line, colon + 1, afterDev);
  if (start === undefined || end === undefined || offset === undefined || devMajor < 0 || devMinor < 0 || !decimal(line, afterDev + 1, afterInode)) throw bad();
  let at = afterInode;
  while (line.charCodeAt(at) === 0x20) at++;
  let name = unescapeMapsName(line.slice(at));
  let deleted = false;
  let { kind, label } = classifyName(name);
  if (kind === 'file' && name.endsWith(DELETED)) {
    deleted = true;
    name = name.slice(0, -DELETED.length);
    // A shmem inode (shared or, through a descriptor of it, privately mapped), not the device.
    if (name === '/dev/zero' && devMajor === 0) kind = 'dev-zero';
    else if (/^\/SYSV[0-9a-f]{8}$/.test(name)) {
      kind = 'sysv-shm';
      label = name.slice(5);
    } else if (name.startsWith('/memfd:')) {
      kind = 'memfd';
      label = name.slice(7);
    } else if (name === '/[aio]') kind = 'aio';
  }
  const vma: Vma = {
    start, end,
    read: r === 'r',
    write: w === 'w',
    exec: x === 'x',
    shared: s === 's',
    offset, devMajor, devMinor,
    inode: BigInt(line.slice(afterDev + 1, afterInode)),
    name,
    deleted,
    kind,
  };
  if (label !== undefined) vma.label = label;
  return vma;
}

/** Parses /proc/PID/maps. */
export function parseMaps(text: string): Vma[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(parseVmaLine);
}

const SIZE_LINE = /^(\w+):\s+(\d+) kB$/;
/** The sizes SmapsInfo names (rss, anonymous, anonHugePages, swap): what readSmaps keeps. */
const NAMED_SIZES: readonly string[] = ['Rss', 'Anonymous', 'AnonHugePages', 'Swap'];

function emptySmaps(): SmapsInfo {
  return { sizes: {}, rss: 0, anonymous: 0, anonHugePages: 0, swap: 0, thpEligible: null, protectionKey: null, vmFlags: [] };
}

/**
 * A VmFlags line's flags. The arrays are shared by the VMAs whose lines are the same (most are:
 * 10,000 mappings have a handful of different lines): read, never change.
 */
function vmFlagsOf(text: string): readonly string[] {
  let had = knownVmFlags.get(text);
  if (had === undefined) {
    had = text.split(' ').filter((f) => f !== '');
    if (knownVmFlags.size >= 1024) knownVmFlags.clear();
    knownVmFlags.set(text, had);
  }
  return had;
}
const knownVmFlags = new Map<string, readonly string[]>();

/**
 * Builds Vmas from smaps lines fed one at a time, keeping per VMA only VmFlags, THPeligible,
 * ProtectionKey and the sizes asked for: a task with 20k VMAs has ~500k smaps lines, which as
 * strings and records cost more than the dump itself.
 */
class SmapsParser {
  readonly out: Vma[] = [];
  private cur: SmapsInfo | undefined;
  constructor(private readonly keep: 'all' | ReadonlySet<string>) {}

  line(line: string): void {
    if (line === '') return;
    const c = line.charCodeAt(0);
    // Header lines start with a lowercase hex address, field lines with a capitalised key.
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) {
      const vma = parseVmaLine(line);
      this.cur = vma.smaps = emptySmaps();
      this.out.push(vma);
      return;
    }
    const cur = this.cur;
    if (!cur) throw new Error(`unexpected line before the first VMA in /proc/PID/smaps: ${JSON.stringify(line)}`);
    const colon = line.indexOf(':');
    // The three keys read always, told apart without cutting the key out (a line per VMA each).
    if (c === 0x56 && colon === 7 && line.startsWith('VmFlags')) cur.vmFlags = vmFlagsOf(line.slice(colon + 1));
    else if (c === 0x54 && colon === 11 && line.startsWith('THPeligible')) cur.thpEligible = line.slice(colon + 1).trim() === '1';
    else if (c === 0x50 && colon === 13 && line.startsWith('ProtectionKey')) cur.protectionKey = Number(line.slice(colon + 1).trim());
    else if (this.keep === 'all') {
      const size = SIZE_LINE.exec(line);
      if (size) cur.sizes[size[1]!] = Number(size[2]) * 1024;
    } else if (this.keep.size > 0 && line.endsWith(' kB')) {
      const key = line.slice(0, colon);
      if (this.keep.has(key)) cur.sizes[key] = Number(line.slice(colon + 1, -3)) * 1024;
    }
  }

  finish(): Vma[] {
    for (const v of this.out) {
      const s = v.smaps!;
      s.rss = s.sizes.Rss ?? 0;
      s.anonymous = s.sizes.Anonymous ?? 0;
      s.anonHugePages = s.sizes.AnonHugePages ?? 0;
      s.swap = s.sizes.Swap ?? 0;
    }
    return this.out;
  }
}

/** Parses /proc/PID/smaps text: each Vma carries its smaps block, with every size line. */
export function parseSmaps(text: string): Vma[] {
  const p = new SmapsParser('all');
  for (const line of text.split('\n')) p.line(line);
  return p.finish();
}

export function readMaps(pid: Pid): Vma[] {
  return parseMaps(readProcText(procPath(pid, 'maps')));
}

/**
 * Reads /proc/PID/smaps in chunks, never the whole text at once. `sizes` names the size lines kept
 * in SmapsInfo.sizes (default: those SmapsInfo names; 'all' keeps every one).
 */
export function readSmaps(pid: Pid, opts: { sizes?: 'all' | readonly string[] } = {}): Vma[] {
  const keep = opts.sizes === 'all' ? 'all' : new Set(opts.sizes ?? NAMED_SIZES);
  const p = new SmapsParser(keep);
  const wanted = keep === 'all' ? undefined : lineFilter(['VmFlags', 'THPeligible', 'ProtectionKey', ...keep]);
  readLines(procPath(pid, 'smaps'), wanted, (line) => p.line(line));
  return p.finish();
}

/**
 * A test on a raw smaps line: VMA headers (a lowercase hex digit first) and lines whose key is one
 * of `keys`. The others are never decoded into strings.
 */
function lineFilter(keys: readonly string[]): (buf: Buffer, start: number, end: number) => boolean {
  const byFirst: (Buffer[] | undefined)[] = new Array(256);
  for (const k of keys) {
    const b = Buffer.from(k + ':', 'latin1');
    (byFirst[b[0]!] ??= []).push(b);
  }
  return (buf, start, end) => {
    const c = buf[start]!;
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) return true;
    const cands = byFirst[c];
    if (!cands) return false;
    next: for (const k of cands) {
      if (end - start < k.length) continue;
      for (let i = 1; i < k.length; i++) if (buf[start + i] !== k[i]) continue next;
      return true;
    }
    return false;
  };
}

/** Feeds each line of a /proc file that passes `wanted` to `each`, reading 256 KiB at a time. */
function readLines(path: string, wanted: ((buf: Buffer, start: number, end: number) => boolean) | undefined, each: (line: string) => void): void {
  let fd: number;
  faultPoint(`read ${path}`);
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new ProcReadError(path, (err as NodeJS.ErrnoException).code ?? 'EIO', err);
  }
  try {
    const buf = Buffer.allocUnsafe(256 << 10);
    let have = 0; // bytes of an unfinished line kept at the start of buf
    for (;;) {
      if (have === buf.length) throw new Error(`a line of ${path} is longer than ${buf.length} bytes`);
      let n: number;
      try {
        n = readSync(fd, buf, have, buf.length - have, null);
      } catch (err) {
        throw new ProcReadError(path, (err as NodeJS.ErrnoException).code ?? 'EIO', err);
      }
      const end = have + n;
      const filled = buf.subarray(0, end); // what follows is an earlier read's
      // Only whole lines: a read may end inside one (the rest comes with the next read).
      let at = 0;
      for (;;) {
        let nl = filled.indexOf(0x0a, at);
        if (nl === -1) {
          nl = end;
          if (n !== 0 || at >= end) break; // the last line without a newline goes on
        }
        if (nl > at && (!wanted || wanted(buf, at, nl))) each(buf.toString('utf8', at, nl));
        at = nl + 1;
      }
      if (n === 0) return;
      buf.copy(buf, 0, at, end);
      have = end - at;
    }
  } finally {
    closeSync(fd);
  }
}

/** The file name of a VMA's /proc/PID/map_files entry (lowercase hex, no padding). */
export function mapFilesName(start: bigint, end: bigint): string {
  return `${start.toString(16)}-${end.toString(16)}`;
}

/**
 * Target of /proc/PID/map_files/START-END: the mapped file's path as the kernel
 * sees it (with ' (deleted)' split off). Opening that path (not done here) gives
 * the file even when it was deleted or is a memfd.
 */
export function readMapFilesLink(pid: Pid, start: bigint, end: bigint): { path: string; deleted: boolean } {
  const target = readProcLink(procPath(pid, `map_files/${mapFilesName(start, end)}`));
  return splitDeleted(target);
}

/** Splits the ' (deleted)' suffix that d_path() adds to unlinked files. */
export function splitDeleted(target: string): { path: string; deleted: boolean } {
  return target.endsWith(DELETED) ? { path: target.slice(0, -DELETED.length), deleted: true } : { path: target, deleted: false };
}
