// Who holds a unix socket (a scan of /proc/*/fd), and whether that process is part of the dump.
import { listFds, passBy, procGone, procPath, readFdLink, readProcText, scanProcessFds } from '../proc/index.js';
import type { FileTable } from '../shared/file-table.js';

/** Who holds a socket: processes with a descriptor of socket:[ino] (cryo itself left out), the dumped task `first`. */
export function holdersOf(ino: number, first?: number): { pid: number; fd: number }[] {
  const link = `socket:[${ino}]`;
  if (first !== undefined) {
    try {
      for (const fd of listFds(first)) {
        try {
          if (readFdLink(first, fd) === link) return [{ pid: first, fd }];
        } catch (e) {
          if (!procGone(e)) throw e; // closed meanwhile
        }
      }
    } catch (e) {
      if (!procGone(e)) throw e;
    }
  }
  const out: { pid: number; fd: number }[] = [];
  scanProcessFds(`scan of the processes for the holder of socket:[${ino}]`, (pid) => pid === process.pid, (pid, fd, t) => {
    if (t.kind === 'socket' && t.inode === BigInt(ino)) out.push({ pid, fd });
  });
  return out;
}

/** Whether `pid` is part of this dump: the dumped task, or a process cryo holds frozen (a tree's member). */
export function inDump(table: FileTable, pid: number): boolean {
  if (pid === table.pid) return true;
  try {
    return /^TracerPid:\s*(\d+)$/m.exec(readProcText(procPath(pid, 'status')))?.[1] === String(process.pid);
  } catch (e) {
    if (passBy(e)) return false;
    throw e;
  }
}

export function describeHolder(h: { pid: number; fd: number } | undefined): string {
  if (!h) return 'held by no process';
  let comm = '?';
  try {
    comm = readProcText(procPath(h.pid, 'comm')).trim();
  } catch (e) {
    if (!passBy(e)) throw e; // gone: the line names the PID
  }
  return `held by process ${h.pid} (${comm}) as fd ${h.fd}`;
}
