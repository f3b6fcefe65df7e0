// /proc/PID/maps and /proc/PID/smaps: one Vma per line (maps) or per block (smaps).
import { procPath, readProcLink, readProcText, type Pid } from './read.js';

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
  | 'dev-zero' // /dev/zero (deleted): anonymous shared memory
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
  vmFlags: string[];
}

const HEADER = /^([0-9a-f]+)-([0-9a-f]+) ([r-])([w-])([x-])([sp]) ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) (\d+)(?: +(.*))?$/;
const DELETED = ' (deleted)';

/** True for a maps/smaps VMA header line (as opposed to an smaps field line). */
export function isVmaHeader(line: string): boolean {
  return /^[0-9a-f]+-[0-9a-f]+ /.test(line);
}

/** The kernel escapes only '\n' in maps names (as \012); backslashes are not escaped. */
function unescapeMapsName(s: string): string {
  return s.replace(/\\012/g, '\n');
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

/** Parses one maps header line. */
export function parseVmaLine(line: string): Vma {
  const m = HEADER.exec(line);
  if (!m) throw new Error(`unexpected line in /proc/PID/maps: ${JSON.stringify(line)}`);
  let name = unescapeMapsName(m[11] ?? '');
  let deleted = false;
  let { kind, label } = classifyName(name);
  if (kind === 'file' && name.endsWith(DELETED)) {
    deleted = true;
    name = name.slice(0, -DELETED.length);
    if (name === '/dev/zero' && m[6] === 's' && parseInt(m[8]!, 16) === 0) kind = 'dev-zero'; // shmem inode, not the device
    else if (/^\/SYSV[0-9a-f]{8}$/.test(name)) {
      kind = 'sysv-shm';
      label = name.slice(5);
    } else if (name.startsWith('/memfd:')) {
      kind = 'memfd';
      label = name.slice(7);
    } else if (name === '/[aio]') kind = 'aio';
  }
  const vma: Vma = {
    start: BigInt('0x' + m[1]),
    end: BigInt('0x' + m[2]),
    read: m[3] === 'r',
    write: m[4] === 'w',
    exec: m[5] === 'x',
    shared: m[6] === 's',
    offset: BigInt('0x' + m[7]),
    devMajor: parseInt(m[8]!, 16),
    devMinor: parseInt(m[9]!, 16),
    inode: BigInt(m[10]!),
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

function emptySmaps(): SmapsInfo {
  return { sizes: {}, rss: 0, anonymous: 0, anonHugePages: 0, swap: 0, thpEligible: null, protectionKey: null, vmFlags: [] };
}

/** Parses /proc/PID/smaps: each Vma carries its smaps block. */
export function parseSmaps(text: string): Vma[] {
  const out: Vma[] = [];
  let cur: SmapsInfo | undefined;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (isVmaHeader(line)) {
      const vma = parseVmaLine(line);
      cur = vma.smaps = emptySmaps();
      out.push(vma);
      continue;
    }
    if (!cur) throw new Error(`unexpected line before the first VMA in /proc/PID/smaps: ${JSON.stringify(line)}`);
    const size = SIZE_LINE.exec(line);
    if (size) {
      cur.sizes[size[1]!] = Number(size[2]) * 1024;
      continue;
    }
    const colon = line.indexOf(':');
    const key = line.slice(0, colon);
    const value = line.slice(colon + 1).trim();
    if (key === 'VmFlags') cur.vmFlags = value.split(/\s+/).filter((f) => f !== '');
    else if (key === 'THPeligible') cur.thpEligible = value === '1';
    else if (key === 'ProtectionKey') cur.protectionKey = Number(value);
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

export function readMaps(pid: Pid): Vma[] {
  return parseMaps(readProcText(procPath(pid, 'maps')));
}

export function readSmaps(pid: Pid): Vma[] {
  return parseSmaps(readProcText(procPath(pid, 'smaps')));
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
