// Small per-process /proc entries: links, names, argument vectors, numbers, tasks, namespaces, cgroups, limits.
import { splitDeleted } from './maps.js';
import { ProcReadError, procPath, readProcDir, readProcLink, readProcText, type Pid } from './read.js';

export interface LinkTarget {
  path: string;
  deleted: boolean;
}

export const readCwd = (pid: Pid): LinkTarget => splitDeleted(readProcLink(procPath(pid, 'cwd')));
export const readRoot = (pid: Pid): LinkTarget => splitDeleted(readProcLink(procPath(pid, 'root')));
export const readExe = (pid: Pid): LinkTarget => splitDeleted(readProcLink(procPath(pid, 'exe')));

/** comm: the thread name, without the trailing newline (raw bytes, no escaping). */
export function parseComm(text: string): string {
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}
export const readComm = (pid: Pid, tid?: number): string => parseComm(readProcText(procPath(pid, 'comm', tid)));

/** NUL-separated strings (cmdline, environ); the final NUL does not start an empty entry. */
export function parseNulList(buf: Buffer | string): string[] {
  const s = typeof buf === 'string' ? buf : buf.toString('utf8');
  if (s === '') return [];
  const parts = s.split('\0');
  if (parts[parts.length - 1] === '') parts.pop();
  return parts;
}
export const readCmdline = (pid: Pid): string[] => parseNulList(readProcText(procPath(pid, 'cmdline')));
export const readEnviron = (pid: Pid): string[] => parseNulList(readProcText(procPath(pid, 'environ')));

/** personality is printed as %08x. */
export const parsePersonality = (text: string): number => parseInt(text.trim(), 16);
export const readPersonality = (pid: Pid): number => parsePersonality(readProcText(procPath(pid, 'personality')));
export const readTimerslackNs = (pid: Pid): bigint => BigInt(readProcText(procPath(pid, 'timerslack_ns')).trim());
/** 4294967295 means unset. */
export const readLoginuid = (pid: Pid): number => Number(readProcText(procPath(pid, 'loginuid')).trim());
export const readOomScoreAdj = (pid: Pid): number => Number(readProcText(procPath(pid, 'oom_score_adj')).trim());

/** /proc/PID/sched (CONFIG_SCHED_DEBUG): "key : value" lines after a header; values as strings. */
export function parseSched(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+:\s+(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!.trim();
  }
  return out;
}
export const readSched = (pid: Pid, tid?: number): Record<string, string> => parseSched(readProcText(procPath(pid, 'sched', tid)));

/** Thread ids of a process, ascending. */
export function readTaskIds(pid: Pid): number[] {
  return readProcDir(procPath(pid, 'task'))
    .map(Number)
    .sort((a, b) => a - b);
}

/** /proc/PID/task/TID/children: ids of the thread's children (CONFIG_PROC_CHILDREN). */
export function parseChildren(text: string): number[] {
  return text.split(/\s+/).filter((x) => x !== '').map(Number);
}
export const readChildren = (pid: Pid, tid: number): number[] => parseChildren(readProcText(procPath(pid, 'children', tid)));

export interface CgroupEntry {
  hierarchyId: number;
  /** Controllers of a v1 hierarchy ("cpu,cpuacct", "name=systemd"); empty for cgroup v2. */
  controllers: string[];
  path: string;
}

export function parseCgroup(text: string): CgroupEntry[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const a = l.indexOf(':');
      const b = l.indexOf(':', a + 1);
      if (a < 0 || b < 0) throw new Error(`unexpected line in /proc/PID/cgroup: ${JSON.stringify(l)}`);
      const ctl = l.slice(a + 1, b);
      return { hierarchyId: Number(l.slice(0, a)), controllers: ctl === '' ? [] : ctl.split(','), path: l.slice(b + 1) };
    });
}
export const readCgroup = (pid: Pid): CgroupEntry[] => parseCgroup(readProcText(procPath(pid, 'cgroup')));

/** No inode: what a namespace the kernel has made no process in yet reads as. */
const NOT_MADE_YET = 0n;

/**
 * Namespace inode numbers by name (mnt, net, pid, pid_for_children, user, ...). NOT_MADE_YET for a
 * namespace the kernel has no process in yet: pid_for_children after unshare(CLONE_NEWPID), before
 * the first child (its link gives ENOENT while the task lives). `only`: just these names (one the
 * kernel lacks reads as NOT_MADE_YET too).
 */
export function readNamespaces(pid: Pid, tid?: number, only?: readonly string[]): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  let unborn = false;
  for (const name of only ?? readProcDir(procPath(pid, 'ns', tid))) {
    let link: string;
    try {
      link = readProcLink(procPath(pid, `ns/${name}`, tid));
    } catch (e) {
      if (!(e instanceof ProcReadError && e.code === 'ENOENT')) throw e;
      out[name] = NOT_MADE_YET;
      unborn = true;
      continue;
    }
    const m = /:\[(\d+)\]$/.exec(link);
    if (m) out[name] = BigInt(m[1]!);
  }
  if (unborn) readProcLink(procPath(pid, 'ns/pid', tid)); // ENOENT there too: the task is gone
  return out;
}

export interface Rlimit {
  /** As /proc prints it: "Max open files". */
  name: string;
  /** null for "unlimited" (RLIM_INFINITY). */
  soft: bigint | null;
  hard: bigint | null;
  units: string;
}

/** /proc/PID/limits: fixed columns (%-25s %-20s %-20s %-10s) after a header line. */
export function parseLimits(text: string): Rlimit[] {
  const lim = (s: string) => (s === 'unlimited' ? null : BigInt(s));
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [soft = '', hard = '', units = ''] = l.slice(26).trim().split(/\s+/);
      return { name: l.slice(0, 25).trim(), soft: lim(soft), hard: lim(hard), units };
    });
}
export const readLimits = (pid: Pid): Rlimit[] => parseLimits(readProcText(procPath(pid, 'limits')));
