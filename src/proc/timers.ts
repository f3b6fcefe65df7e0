// /proc/PID/timers: POSIX timers, four lines each (kernel/time/posix-timers.c, show_timer).
import { procPath, readProcText, type Pid } from './read.js';

export interface PosixTimer {
  id: number;
  signal: number;
  /** sigev_value as printed (the pointer or integer the timer delivers). */
  sigval: bigint;
  /** SIGEV_SIGNAL 'signal', SIGEV_NONE 'none', SIGEV_THREAD 'thread'. */
  notify: 'signal' | 'none' | 'thread';
  /** True for SIGEV_THREAD_ID (the line says "tid"): `target` is then a thread id. */
  threadId: boolean;
  target: number;
  clockId: number;
}

export function parseTimers(text: string): PosixTimer[] {
  const lines = text.split('\n').filter((l) => l !== '');
  if (lines.length % 4 !== 0) throw new Error(`unexpected /proc/PID/timers: ${lines.length} lines, expected groups of 4`);
  const out: PosixTimer[] = [];
  for (let i = 0; i < lines.length; i += 4) {
    const id = /^ID: (-?\d+)$/.exec(lines[i]!);
    const sig = /^signal: (\d+)\/(\S+)$/.exec(lines[i + 1]!);
    const notify = /^notify: ([a-z]+)\/(pid|tid)\.(-?\d+)$/.exec(lines[i + 2]!);
    const clock = /^ClockID: (-?\d+)$/.exec(lines[i + 3]!);
    if (!id || !sig || !notify || !clock) throw new Error(`unexpected timer in /proc/PID/timers: ${JSON.stringify(lines.slice(i, i + 4))}`);
    const val = sig[2]!;
    out.push({
      id: Number(id[1]),
      signal: Number(sig[1]),
      sigval: val === '(null)' ? 0n : BigInt(val.startsWith('0x') ? val : '0x' + val),
      notify: notify[1] as PosixTimer['notify'],
      threadId: notify[2] === 'tid',
      target: Number(notify[3]),
      clockId: Number(clock[1]),
    });
  }
  return out;
}

export function readTimers(pid: Pid): PosixTimer[] {
  return parseTimers(readProcText(procPath(pid, 'timers')));
}
