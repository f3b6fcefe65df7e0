// /proc/PID/mountinfo (proc(5)): mount id -> mount point, device, file system.
import { procPath, readProcText, type Pid } from './read.js';

export interface MountInfo {
  mountId: number;
  parentId: number;
  devMajor: number;
  devMinor: number;
  /** Root of the mount within its file system. */
  root: string;
  mountPoint: string;
  mountOptions: string;
  /** Raw optional fields ("shared:1", "master:2", "propagate_from:3", "unbindable"). */
  optional: string[];
  shared: number | null;
  master: number | null;
  propagateFrom: number | null;
  unbindable: boolean;
  fsType: string;
  source: string;
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountinfoLine(line: string): MountInfo {
  const f = line.split(' ');
  const sep = f.indexOf('-', 6);
  if (f.length < 10 || sep < 0) throw new Error(`unexpected line in /proc/PID/mountinfo: ${JSON.stringify(line)}`);
  const [major, minor] = f[2]!.split(':').map(Number);
  const optional = f.slice(6, sep);
  const tagged = (tag: string) => {
    const o = optional.find((x) => x.startsWith(tag + ':'));
    return o === undefined ? null : Number(o.slice(tag.length + 1));
  };
  return {
    mountId: Number(f[0]),
    parentId: Number(f[1]),
    devMajor: major!,
    devMinor: minor!,
    root: unescapeOctal(f[3]!),
    mountPoint: unescapeOctal(f[4]!),
    mountOptions: f[5]!,
    optional,
    shared: tagged('shared'),
    master: tagged('master'),
    propagateFrom: tagged('propagate_from'),
    unbindable: optional.includes('unbindable'),
    fsType: unescapeOctal(f[sep + 1]!),
    source: unescapeOctal(f[sep + 2]!),
    superOptions: unescapeOctal(f.slice(sep + 3).join(' ')),
  };
}

export function parseMountinfo(text: string): MountInfo[] {
  return text.split('\n').filter((l) => l !== '').map(parseMountinfoLine);
}

export function readMountinfo(pid: Pid): MountInfo[] {
  return parseMountinfo(readProcText(procPath(pid, 'mountinfo')));
}

/** Mounts by id, for resolving fdinfo's mnt_id. */
export function mountsById(mounts: readonly MountInfo[]): Map<number, MountInfo> {
  return new Map(mounts.map((m) => [m.mountId, m]));
}
