// /proc/PID/maps and /proc/PID/smaps: one Vma per line (maps) or per block (smaps).
import { ProcReadError, procPath, readProcLink, type Pid } from './read.js';
import { faultPoint } from '../fault.js';
import { native, type NativeError } from '../sys/native.js';
import { errnoName } from '../sys/errno.js';

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

/** The kind a name column says (no object made: 20,000 VMAs a dump). */
function kindOfName(name: string): VmaNameKind {
  if (name === '') return 'anonymous';
  const bracket = BRACKET_KINDS[name];
  if (bracket) return bracket;
  if (name.startsWith('[anon:') && name.endsWith(']')) return 'anon-named';
  if (name.startsWith('[anon_shmem:') && name.endsWith(']')) return 'anon-shmem-named';
  if (name.startsWith('[')) return 'special';
  return 'file';
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
  return vmaOf(start, end, r === 'r', w === 'w', x === 'x', s === 's', offset, devMajor, devMinor, BigInt(line.slice(afterDev + 1, afterInode)), line.slice(at), undefined);
}

/**
 * A Vma of a maps line's fields, its name column as the kernel wrote it, and its smaps part if
 * any. Every Vma has every property (label and smaps undefined where there is none): one object
 * shape for them all, also once addSmapsOf gives them their smaps part.
 */
function vmaOf(start: bigint, end: bigint, read: boolean, write: boolean, exec: boolean, shared: boolean, offset: bigint,
  devMajor: number, devMinor: number, inode: bigint, nameColumn: string, smaps: SmapsInfo | undefined): Vma {
  let name = unescapeMapsName(nameColumn);
  let deleted = false;
  let kind = kindOfName(name);
  let label = kind === 'anon-named' ? name.slice(6, -1) : kind === 'anon-shmem-named' ? name.slice(12, -1) : undefined;
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
  return { start, end, read, write, exec, shared, offset, devMajor, devMinor, inode, name, deleted, kind, label, smaps };
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
const NAMED_SIZES: readonly SmapsSize[] = ['Rss', 'Anonymous', 'AnonHugePages', 'Swap'];

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

/** Parses /proc/PID/smaps text (read ahead of a dump, or a test's): each Vma with its smaps block, every size line kept. */
export function parseSmaps(text: string): Vma[] {
  const out: Vma[] = [];
  let cur: SmapsInfo | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const c = line.charCodeAt(0);
    // Header lines start with a lowercase hex address, field lines with a capitalised key.
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) {
      const vma = parseVmaLine(line);
      cur = vma.smaps = emptySmaps();
      out.push(vma);
      continue;
    }
    if (!cur) throw new Error(`unexpected line before the first VMA in /proc/PID/smaps: ${JSON.stringify(line)}`);
    const colon = line.indexOf(':');
    const key = line.slice(0, colon);
    if (key === 'VmFlags') cur.vmFlags = vmFlagsOf(line.slice(colon + 1));
    else if (key === 'THPeligible') cur.thpEligible = line.slice(colon + 1).trim() === '1';
    else if (key === 'ProtectionKey') cur.protectionKey = Number(line.slice(colon + 1).trim());
    else {
      const size = SIZE_LINE.exec(line);
      if (size) cur.sizes[size[1]!] = Number(size[2]) * 1024;
    }
  }
  for (const v of out) {
    const s = v.smaps!;
    s.rss = s.sizes.Rss ?? 0;
    s.anonymous = s.sizes.Anonymous ?? 0;
    s.anonHugePages = s.sizes.AnonHugePages ?? 0;
    s.swap = s.sizes.Swap ?? 0;
  }
  return out;
}

/** Reads /proc/PID/maps, parsed by the native addon as smaps is (a task may have 20,000 mappings). */
export function readMaps(pid: Pid): Vma[] {
  return readVmasAt(procPath(pid, 'maps'), undefined);
}

/**
 * Reads /proc/PID/smaps, parsed by the native addon (native/cryo_smaps.c): each Vma with its
 * VmFlags, THPeligible, ProtectionKey and of the sizes only those `sizes` names (default: all that
 * SmapsInfo names).
 */
export function readSmaps(pid: Pid, opts: { sizes?: readonly SmapsSize[] } = {}): Vma[] {
  return readSmapsAt(procPath(pid, 'smaps'), opts.sizes ?? NAMED_SIZES);
}

/** readSmaps of the smaps text at `path`. */
export function readSmapsAt(path: string, sizes: readonly SmapsSize[]): Vma[] {
  return readVmasAt(path, sizes);
}

/** The VMAs of maps or smaps text at `path`; `sizes` undefined: maps (no smaps part). */
function readVmasAt(path: string, sizes: readonly SmapsSize[] | undefined): Vma[] {
  // cryo's own maps are no step of an operation (read.ts).
  if (!path.startsWith('/proc/self/')) faultPoint(`read ${path}`);
  let got: [Buffer, Buffer, number] | [undefined, string];
  try {
    got = native().smapsRead(path);
  } catch (err) {
    const errno = (err as NativeError).errno;
    if (errno === undefined) throw err;
    throw new ProcReadError(path, errnoName(errno), err);
  }
  return vmasOfRead(got, sizes);
}

function vmasOfRead(got: [Buffer, Buffer, number] | [undefined, string], sizes: readonly SmapsSize[] | undefined): Vma[] {
  if (got[0] === undefined) {
    const line = got[1];
    const c = line.charCodeAt(0);
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66)) throw badMapsLine(line);
    throw new Error(`unexpected line ${sizes === undefined ? 'in /proc/PID/maps' : 'before the first VMA in /proc/PID/smaps'}: ${JSON.stringify(line)}`);
  }
  return vmasOfRecords(got[0], got[1], got[2], sizes);
}

/** The sizes readSmaps can keep. */
export type SmapsSize = 'Rss' | 'Anonymous' | 'AnonHugePages' | 'Swap';

/** Where cryo_smaps.c puts each field in a record of SMAPS_RECORD bytes (this machine's byte order). */
const RECORD = 128;
const U64 = { start: 0, end: 1, offset: 2, inode: 3 } as const;
const F64: Readonly<Record<SmapsSize, number>> = { Rss: 4, Anonymous: 5, AnonHugePages: 6, Swap: 7 };
const U32 = { major: 16, minor: 17, perms: 18, nameOff: 19, nameLen: 20, flagsOff: 21, flagsLen: 22, thp: 23, pkey: 24 } as const;

/** Typed views of cryo_smaps.c's records. */
function views(records: Buffer, count: number): { u64: BigUint64Array; f64: Float64Array; u32: Uint32Array } {
  const ab = records.buffer;
  return {
    u64: new BigUint64Array(ab, records.byteOffset, count * (RECORD / 8)),
    f64: new Float64Array(ab, records.byteOffset, count * (RECORD / 8)),
    u32: new Uint32Array(ab, records.byteOffset, count * (RECORD / 4)),
  };
}

/** The smaps part of record i, keeping `sizes`. */
function smapsParts(u32: Uint32Array, f64: Float64Array, strings: Buffer, sizes: readonly SmapsSize[]): (i: number) => SmapsInfo {
  // VMAs with the same VmFlags text name the same copy of it (cryo_smaps.c).
  const flagsAt = new Map<number, readonly string[]>();
  // Without sizes, the smaps part of a VMA is its flags, THPeligible and protection key: VMAs alike
  // share one (frozen) object. 20,000 VMAs: two objects each fewer to make and collect.
  const shared = sizes.length === 0 ? new Map<number, SmapsInfo>() : undefined;
  return (i) => {
    const q = i * (RECORD / 8);
    const w = i * (RECORD / 4);
    const flagsOff = u32[w + U32.flagsOff]!;
    let flags = flagsAt.get(flagsOff);
    if (flags === undefined) flagsAt.set(flagsOff, (flags = vmFlagsOf(strings.toString('latin1', flagsOff, flagsOff + u32[w + U32.flagsLen]!))));
    const thp = u32[w + U32.thp]!;
    const pkey = u32[w + U32.pkey]!;
    // Keyed by flags text, THPeligible (0-2) and key (0xffffffff: none; a CPU has at most 16), packed
    // in one number: a string key doubled this loop's time (20,000 VMAs: 11-15 -> 27-32 ms CPU).
    const key = shared !== undefined && (pkey < 0x10000 || pkey === 0xffffffff) ? (flagsOff * 3 + thp) * 0x20000 + (pkey === 0xffffffff ? 0x10000 : pkey) : -1;
    let info = key >= 0 ? shared!.get(key) : undefined;
    if (info === undefined) {
      info = emptySmaps();
      info.vmFlags = flags;
      if (thp !== 2) info.thpEligible = thp === 1;
      if (pkey !== 0xffffffff) info.protectionKey = pkey;
      for (const k of sizes) {
        const v = f64[q + F64[k]]!;
        if (v >= 0) info.sizes[k] = v;
      }
      info.rss = info.sizes.Rss ?? 0;
      info.anonymous = info.sizes.Anonymous ?? 0;
      info.anonHugePages = info.sizes.AnonHugePages ?? 0;
      info.swap = info.sizes.Swap ?? 0;
      if (key >= 0) {
        Object.freeze(info.sizes);
        shared!.set(key, Object.freeze(info));
      }
    }
    return info;
  };
}

/** The VMAs of cryo_smaps.c's records; `sizes` undefined: of maps, without their smaps part. */
function vmasOfRecords(records: Buffer, strings: Buffer, count: number, sizes: readonly SmapsSize[] | undefined): Vma[] {
  const { u64, f64, u32 } = views(records, count);
  const out: Vma[] = new Array(count);
  const partOf = sizes === undefined ? undefined : smapsParts(u32, f64, strings, sizes);
  for (let i = 0; i < count; i++) {
    const q = i * (RECORD / 8);
    const w = i * (RECORD / 4);
    const perms = u32[w + U32.perms]!;
    const nameLen = u32[w + U32.nameLen]!;
    const nameOff = u32[w + U32.nameOff]!;
    const start = u64At(u64, u32, q + U64.start);
    const end = u64At(u64, u32, q + U64.end);
    const offset = u64At(u64, u32, q + U64.offset);
    const inode = u64At(u64, u32, q + U64.inode);
    const read = (perms & 1) !== 0, write = (perms & 2) !== 0, exec = (perms & 4) !== 0, isShared = (perms & 8) !== 0;
    const name = nameLen === 0 ? '' : strings.toString('utf8', nameOff, nameOff + nameLen);
    out[i] = vmaOf(start, end, read, write, exec, isShared, offset, u32[w + U32.major]!, u32[w + U32.minor]!, inode, name, partOf?.(i));
  }
  return out;
}

/**
 * smaps (VmFlags, THPeligible and protection keys) read on libuv's thread pool, for VMAs read
 * before (addSmapsOf): records, not Vmas (20,000 VMAs: ~12 ms of CPU and their garbage).
 */
export function readSmapsLater(pid: Pid): Promise<SmapsRead> {
  const path = procPath(pid, 'smaps');
  faultPoint(`read ${path}`);
  return new Promise((resolve, reject) => native().smapsReadAsync(path, (errno, got) => {
    if (errno !== 0 || got === undefined) reject(new ProcReadError(path, errnoName(errno)));
    else if (got[0] === undefined) reject(new Error(`unexpected line in /proc/PID/smaps: ${JSON.stringify(got[1])}`));
    else resolve({ records: got[0], strings: got[1], count: got[2] });
  }));
}

/** What readSmapsLater read. */
export interface SmapsRead { records: Buffer; strings: Buffer; count: number }

/**
 * Gives each of `maps` its smaps part from `read` if every one of them is in it, the same mapping
 * (addresses, protection, offset, device, inode, name); read's VMAs between them are passed over.
 * False (`maps` unchanged) when one is not.
 */
export function addSmapsOf(maps: readonly Vma[], read: SmapsRead): boolean {
  const { u64, f64, u32 } = views(read.records, read.count);
  const at = new Int32Array(maps.length);
  let j = 0;
  for (let i = 0; i < maps.length; i++) {
    const start = Number(maps[i]!.start);
    while (j < read.count && u64Number(u64, u32, j * (RECORD / 8) + U64.end) <= start) j++;
    if (j === read.count || !sameRecord(maps[i]!, u64, u32, read.strings, j)) return false;
    at[i] = j++;
  }
  const partOf = smapsParts(u32, f64, read.strings, []);
  for (let i = 0; i < maps.length; i++) maps[i]!.smaps = partOf(at[i]!);
  return true;
}

/** Whether record i is mapping `m`. */
function sameRecord(m: Vma, u64: BigUint64Array, u32: Uint32Array, strings: Buffer, i: number): boolean {
  const q = i * (RECORD / 8);
  const w = i * (RECORD / 4);
  const perms = (m.read ? 1 : 0) | (m.write ? 2 : 0) | (m.exec ? 4 : 0) | (m.shared ? 8 : 0);
  if (!u64Is(u64, u32, q + U64.start, m.start) || !u64Is(u64, u32, q + U64.end, m.end) || !u64Is(u64, u32, q + U64.offset, m.offset)
    || !u64Is(u64, u32, q + U64.inode, m.inode) || u32[w + U32.perms] !== perms || u32[w + U32.major] !== m.devMajor || u32[w + U32.minor] !== m.devMinor) return false;
  const nameLen = u32[w + U32.nameLen]!;
  if (nameLen === 0) return m.name === '' && !m.deleted;
  const nameOff = u32[w + U32.nameOff]!;
  return strings.toString('utf8', nameOff, nameOff + nameLen) === mapsNameColumn(m);
}

/** The name column maps printed for `m` (vmaOf's reverse). */
function mapsNameColumn(m: Vma): string {
  return (m.name.includes('\n') ? m.name.replace(/\n/g, '\\012') : m.name) + (m.deleted ? DELETED : '');
}

/** Whether u64[k] is `v`, without making a bigint below 2^53 (Number(v) equal to one below 2^53 is exact). */
function u64Is(u64: BigUint64Array, u32: Uint32Array, k: number, v: bigint): boolean {
  const n = u64Number(u64, u32, k);
  return n < 0x20000000000000 ? n === Number(v) : u64[k] === v;
}

/** u64[k] as a number, exact below 2^53 (user addresses); rounded above, where a wrong turn only fails addSmapsOf's match. */
function u64Number(u64: BigUint64Array, u32: Uint32Array, k: number): number {
  const hi = u32[2 * k + (LITTLE ? 1 : 0)]!;
  return hi < 0x200000 ? hi * 0x100000000 + u32[2 * k + (LITTLE ? 0 : 1)]! : Number(u64[k]!);
}

/**
 * u64[k] as a bigint: one below 2^53 (every address, most offsets and inodes) made from its two
 * 32-bit halves, which is several times faster than reading a BigUint64Array element here; 0 made never.
 */
function u64At(u64: BigUint64Array, u32: Uint32Array, k: number): bigint {
  const lo = u32[2 * k + (LITTLE ? 0 : 1)]!;
  const hi = u32[2 * k + (LITTLE ? 1 : 0)]!;
  if (hi === 0 && lo === 0) return 0n;
  return hi < 0x200000 ? BigInt(hi * 0x100000000 + lo) : u64[k]!;
}
const LITTLE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

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
