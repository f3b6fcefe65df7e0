// Who holds a unix socket (a scan of /proc/*/fd), and whether that process is part of the dump.
import { passBy, procPath, readProcText, scanProcessFds, socketFds } from '../proc/index.js';
import type { FileTable } from '../shared/file-table.js';

interface Holder { pid: number; fd: number }

/**
 * Per dump: each dumped process's socket descriptors by inode, and one scan of every process's,
 * each made when first needed (a process with thousands of socketpairs asks once per socket).
 */
const indexes = new WeakMap<FileTable, { own: Map<number, Map<number, number>>; all?: Map<number, Holder[]> }>();

function indexFor(table: FileTable) {
  let x = indexes.get(table);
  if (!x) indexes.set(table, (x = { own: new Map() }));
  return x;
}

/** Who holds a socket: processes with a descriptor of socket:[ino] (cryo itself left out), the dumped task `first`. */
export function holdersOf(table: FileTable, ino: number, first?: number): Holder[] {
  const index = indexFor(table);
  if (first !== undefined) {
    let own = index.own.get(first);
    if (!own) index.own.set(first, (own = socketFds(first)));
    const fd = own.get(ino);
    if (fd !== undefined) return [{ pid: first, fd }];
  }
  if (!index.all) {
    const all = (index.all = new Map<number, Holder[]>());
    scanProcessFds('scan of the processes for the holders of unix sockets', (pid) => pid === process.pid, (pid, fd, t) => {
      if (t.kind !== 'socket') return;
      const list = all.get(Number(t.inode));
      if (list) list.push({ pid, fd }); else all.set(Number(t.inode), [{ pid, fd }]);
    });
  }
  return index.all.get(ino) ?? [];
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
