// /proc/PID/status (or /proc/PID/task/TID/status): "Key:\tvalue" lines.
import { procPath, readProcText, type Pid } from './read.js';

export interface ProcStatus {
  name: string;
  umask: number | null;
  /** One letter (R, S, D, T, t, Z, X, ...). */
  state: string;
  tgid: number;
  pid: number;
  ppid: number;
  tracerPid: number;
  /** real, effective, saved, filesystem */
  uid: [number, number, number, number];
  gid: [number, number, number, number];
  fdSize: number;
  groups: number[];
  /** Outermost namespace first, the task's own namespace last. */
  nsTgid: number[];
  nsPid: number[];
  nsPgid: number[];
  nsSid: number[];
  threads: number;
  sigQ: { queued: number; limit: number };
  sigPnd: bigint;
  shdPnd: bigint;
  sigBlk: bigint;
  sigIgn: bigint;
  sigCgt: bigint;
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
  /** 0 disabled, 1 strict, 2 filter. */
  seccomp: number;
  seccompFilters: number;
  /** Every line as the kernel wrote it (Speculation_Store_Bypass, Cpus_allowed_list, VmRSS, ...). */
  raw: Record<string, string>;
}

function ints(s: string | undefined): number[] {
  return (s ?? '').split(/\s+/).filter((x) => x !== '').map(Number);
}

function quad(s: string | undefined, key: string): [number, number, number, number] {
  const v = ints(s);
  if (v.length !== 4) throw new Error(`unexpected ${key} line in /proc/PID/status: ${JSON.stringify(s)}`);
  return v as [number, number, number, number];
}

function hex(s: string | undefined): bigint {
  return s ? BigInt('0x' + s) : 0n;
}

export function parseStatus(text: string): ProcStatus {
  const raw: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    // Name keeps its spaces; other values are trimmed of the tab padding.
    raw[line.slice(0, colon)] = line.slice(0, colon) === 'Name' ? line.slice(colon + 2) : line.slice(colon + 1).trim();
  }
  const need = (k: string) => {
    const v = raw[k];
    if (v === undefined) throw new Error(`/proc/PID/status has no ${k} line`);
    return v;
  };
  const [queued, limit] = (raw.SigQ ?? '0/0').split('/').map(Number);
  return {
    name: unescapeName(need('Name')),
    umask: raw.Umask === undefined ? null : parseInt(raw.Umask, 8),
    state: need('State').charAt(0),
    tgid: Number(need('Tgid')),
    pid: Number(need('Pid')),
    ppid: Number(need('PPid')),
    tracerPid: Number(raw.TracerPid ?? 0),
    uid: quad(need('Uid'), 'Uid'),
    gid: quad(need('Gid'), 'Gid'),
    fdSize: Number(raw.FDSize ?? 0),
    groups: ints(raw.Groups),
    nsTgid: ints(raw.NStgid),
    nsPid: ints(raw.NSpid),
    nsPgid: ints(raw.NSpgid),
    nsSid: ints(raw.NSsid),
    threads: Number(raw.Threads ?? 1),
    sigQ: { queued: queued ?? 0, limit: limit ?? 0 },
    sigPnd: hex(raw.SigPnd),
    shdPnd: hex(raw.ShdPnd),
    sigBlk: hex(raw.SigBlk),
    sigIgn: hex(raw.SigIgn),
    sigCgt: hex(raw.SigCgt),
    capInh: hex(raw.CapInh),
    capPrm: hex(raw.CapPrm),
    capEff: hex(raw.CapEff),
    capBnd: hex(raw.CapBnd),
    capAmb: hex(raw.CapAmb),
    noNewPrivs: raw.NoNewPrivs === '1',
    seccomp: Number(raw.Seccomp ?? 0),
    seccompFilters: Number(raw.Seccomp_filters ?? 0),
    raw,
  };
}

/**
 * status escapes only two characters of the task name: a newline as '\n' and a backslash as '\\'
 * (proc_task_name limits its escape to those); a tab, BEL or ESC is there as itself.
 */
function unescapeName(s: string): string {
  return s.includes('\\') ? s.replace(/\\([n\\])/g, (_, c: string) => (c === 'n' ? '\n' : '\\')) : s;
}

export function readStatus(pid: Pid, tid?: number): ProcStatus {
  return parseStatus(readProcText(procPath(pid, 'status', tid)));
}
