// Who holds a unix socket (a scan of /proc/*/fd), and whether that process is part of the dump.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { FileTable } from '../shared/file-table.js';

/** Who holds a socket: processes with a descriptor of socket:[ino] (cryo itself left out), the dumped task `first`. */
export function holdersOf(ino: number, first?: number): { pid: number; fd: number }[] {
  const link = `socket:[${ino}]`;
  const out: { pid: number; fd: number }[] = [];
  if (first !== undefined) {
    try {
      for (const fd of readdirSync(`/proc/${first}/fd`)) {
        try { if (readlinkSync(`/proc/${first}/fd/${fd}`) === link) return [{ pid: first, fd: Number(fd) }]; } catch { /* closed */ }
      }
    } catch { /* gone */ }
  }
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    let fds: string[];
    try { fds = readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === link) out.push({ pid: Number(p), fd: Number(fd) });
      } catch { /* closed meanwhile */ }
    }
  }
  return out;
}

/** Whether `pid` is part of this dump: the dumped task, or a process cryo holds frozen (a tree's member). */
export function inDump(table: FileTable, pid: number): boolean {
  if (pid === table.pid) return true;
  try {
    return /^TracerPid:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] === String(process.pid);
  } catch {
    return false;
  }
}

export function describeHolder(h: { pid: number; fd: number } | undefined): string {
  if (!h) return 'held by no process';
  let comm = '?';
  try { comm = readFileSync(`/proc/${h.pid}/comm`, 'utf8').trim(); } catch { /* gone */ }
  return `held by process ${h.pid} (${comm}) as fd ${h.fd}`;
}
