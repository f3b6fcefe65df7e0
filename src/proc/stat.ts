// /proc/PID/stat (or task/TID/stat): one line, fields as in proc(5).
import { procPath, readProcText, type Pid } from './read.js';

type Kind = 'int' | 'big' | 'str';

/** Fields after "pid (comm)", in order (proc(5) numbers 3..52). Addresses and masks are bigint. */
const FIELDS = [
  ['state', 'str'],
  ['ppid', 'int'],
  ['pgrp', 'int'],
  ['session', 'int'],
  ['ttyNr', 'int'],
  ['tpgid', 'int'],
  ['flags', 'int'],
  ['minflt', 'big'],
  ['cminflt', 'big'],
  ['majflt', 'big'],
  ['cmajflt', 'big'],
  ['utime', 'big'],
  ['stime', 'big'],
  ['cutime', 'big'],
  ['cstime', 'big'],
  ['priority', 'int'],
  ['nice', 'int'],
  ['numThreads', 'int'],
  ['itrealvalue', 'int'],
  ['starttime', 'big'],
  ['vsize', 'big'],
  ['rss', 'big'],
  ['rsslim', 'big'],
  ['startCode', 'big'],
  ['endCode', 'big'],
  ['startStack', 'big'],
  ['kstkesp', 'big'],
  ['kstkeip', 'big'],
  ['signal', 'big'],
  ['blocked', 'big'],
  ['sigignore', 'big'],
  ['sigcatch', 'big'],
  ['wchan', 'big'],
  ['nswap', 'big'],
  ['cnswap', 'big'],
  ['exitSignal', 'int'],
  ['processor', 'int'],
  ['rtPriority', 'int'],
  ['policy', 'int'],
  ['delayacctBlkioTicks', 'big'],
  ['guestTime', 'big'],
  ['cguestTime', 'big'],
  ['startData', 'big'],
  ['endData', 'big'],
  ['startBrk', 'big'],
  ['argStart', 'big'],
  ['argEnd', 'big'],
  ['envStart', 'big'],
  ['envEnd', 'big'],
  ['exitCode', 'int'],
] as const satisfies readonly (readonly [string, Kind])[];

type FieldName = (typeof FIELDS)[number][0];
type FieldType<K extends Kind> = K extends 'int' ? number : K extends 'big' ? bigint : string;
type FieldsOf<T extends readonly (readonly [string, Kind])[]> = {
  [E in T[number] as E[0]]: FieldType<E[1]>;
};

/**
 * Every field of /proc/PID/stat. Fields a newer kernel adds at the end land in
 * `extra`; fields an older kernel lacks are 0 / 0n. kstkesp/kstkeip read 0 unless
 * the task is being core dumped.
 */
export type ProcStat = { pid: number; comm: string; extra: string[] } & FieldsOf<typeof FIELDS>;

export const STAT_FIELD_NAMES: readonly FieldName[] = FIELDS.map(([n]) => n);

export function parseStat(text: string): ProcStat {
  const line = text.replace(/\n$/, '');
  // comm may hold spaces and parentheses: it runs from the first '(' to the last ')'.
  const open = line.indexOf(' (');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`unexpected /proc/PID/stat: ${JSON.stringify(line.slice(0, 80))}`);
  const rest = line.slice(close + 2).split(' ');
  const out: Record<string, unknown> = { pid: Number(line.slice(0, open)), comm: line.slice(open + 2, close) };
  FIELDS.forEach(([name, kind], i) => {
    const v = rest[i];
    out[name] = kind === 'str' ? (v ?? '') : kind === 'big' ? BigInt(v ?? 0) : Number(v ?? 0);
  });
  out.extra = rest.slice(FIELDS.length);
  return out as ProcStat;
}

export function readStat(pid: Pid, tid?: number): ProcStat {
  return parseStat(readProcText(procPath(pid, 'stat', tid)));
}
