// /proc/PID/fdinfo/N of an io_uring descriptor: the kernel's own view of the ring (indexes, SQPOLL
// thread, registered files and buffers, personalities, armed polls, overflowed completions).
import { procPath, readProcText, type Pid } from './read.js';

export interface IoUringFdinfo {
  sqEntries: number;
  cqEntries: number;
  sqHead: number;
  sqTail: number;
  cachedSqHead: number;
  cqHead: number;
  cqTail: number;
  cachedCqTail: number;
  /** The SQPOLL thread's TID, or -1 (no SQPOLL, or the kernel could not take the ring's lock). */
  sqThread: number;
  sqThreadCpu: number;
  /** Registered file table size, and the slots holding a file (index -> its name: the path /proc/PID/fd shows on 6.x, the last component on older kernels). */
  userFiles: number;
  files: Map<number, string>;
  /** Registered buffers: index -> address and length (a sparse slot is absent or 0x0/0). */
  userBufs: number;
  bufs: Map<number, { addr: bigint; len: number }>;
  /** Personality ids registered (IORING_REGISTER_PERSONALITY). */
  personalities: number[];
  /** Requests waiting on a poll (a read on an empty pipe, an accept): one opcode each. */
  pollList: number[];
  /** Completions the CQ ring had no room for. */
  overflow: number;
}

const u32 = (s: string | undefined, what: string): number => {
  if (s === undefined || !/^\d+$/.test(s)) throw new Error(`io_uring fdinfo: no ${what}`);
  return Number(s) >>> 0;
};

/** Parses the text of an io_uring descriptor's fdinfo. */
export function parseIoUringFdinfo(text: string): IoUringFdinfo {
  const kv = new Map<string, string>();
  const files = new Map<number, string>();
  const bufs = new Map<number, { addr: bigint; len: number }>();
  const personalities: number[] = [];
  const pollList: number[] = [];
  let overflow = 0;
  let section = '';
  for (const line of text.split('\n')) {
    const top = /^([A-Za-z][A-Za-z0-9_-]*):\s*(.*)$/.exec(line);
    if (top) {
      section = top[1]!;
      kv.set(section, top[2]!.trim());
      continue;
    }
    const item = /^\s+(\d+): (.*)$/.exec(line);
    if (section === 'UserFiles' && item) { if (item[2] !== '<none>') files.set(Number(item[1]), item[2]!); }
    else if (section === 'UserBufs' && item) {
      const m = /^0x([0-9a-f]+)\/(\d+)$/.exec(item[2]!);
      if (m) bufs.set(Number(item[1]), { addr: BigInt(`0x${m[1]}`), len: Number(m[2]) });
    } else if (section === 'Personalities' && /^\s*\d+$/.test(line)) personalities.push(Number(line.trim()));
    else if (section === 'PollList' && /^\s+op=(\d+)/.test(line)) pollList.push(Number(/op=(\d+)/.exec(line)![1]));
    else if (section === 'CqOverflowList' && /^\s+user_data=/.test(line)) overflow++;
  }
  const mask = (k: string) => parseInt(kv.get(k) ?? 'x', 16);
  const sqMask = mask('SqMask');
  const cqMask = mask('CqMask');
  if (!Number.isFinite(sqMask) || !Number.isFinite(cqMask)) throw new Error('io_uring fdinfo: no SqMask/CqMask');
  return {
    sqEntries: sqMask + 1,
    cqEntries: cqMask + 1,
    sqHead: u32(kv.get('SqHead'), 'SqHead'),
    sqTail: u32(kv.get('SqTail'), 'SqTail'),
    cachedSqHead: u32(kv.get('CachedSqHead'), 'CachedSqHead'),
    cqHead: u32(kv.get('CqHead'), 'CqHead'),
    cqTail: u32(kv.get('CqTail'), 'CqTail'),
    cachedCqTail: u32(kv.get('CachedCqTail'), 'CachedCqTail'),
    sqThread: Number(kv.get('SqThread') ?? -1),
    sqThreadCpu: Number(kv.get('SqThreadCpu') ?? -1),
    userFiles: u32(kv.get('UserFiles') ?? '0', 'UserFiles'),
    files,
    userBufs: u32(kv.get('UserBufs') ?? '0', 'UserBufs'),
    bufs,
    personalities,
    pollList,
    overflow,
  };
}

export const readIoUringFdinfo = (pid: Pid, fd: number): IoUringFdinfo => parseIoUringFdinfo(readProcText(procPath(pid, `fdinfo/${fd}`)));
