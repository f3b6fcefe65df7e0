/**
 * Descriptors of the task into a FileTable: each descriptor's open file gets one id (shared by
 * the descriptors dup'd from it, found with kcmp) and is dumped by the first descriptor kind of
 * src/files/registry.ts that matches it. The images themselves are collected by FileTable
 * (src/shared/file-table.ts).
 */
import { closeSync, fstatSync } from 'node:fs';
import { listFds, readFdinfo, readFdTarget, readStatus, procPath, type FdTarget, type ProcStatus } from '../proc/index.js';
import { pidfdGetfd, processVmWritev, rawSyscall } from '../sys/index.js';
import type { MessageValue } from '../images/index.js';
import { FD_KINDS } from '../files/registry.js';
import type { DumpFd } from '../files/kind.js';
import { SyscallBatch, type BatchArea, type Injector } from '../inject/index.js';
import { DumpError } from '../shared/dump-error.js';
import { FileTable, ZERO_FOWN } from '../shared/file-table.js';
import { O_CLOEXEC, O_PATH } from '../shared/constants.js';
import { readI32 } from '../sys/native-endian.js';

export { FileTable, type GhostFile, type MappedFileWay, type MemfdInode } from '../shared/file-table.js';
export { elfBuildId } from '../shared/elf-build-id.js';
export { kernelDev } from '../shared/dev-numbers.js';

const F_GETSIG = 11;
const F_GETOWN_EX = 16;

/** Owner of a descriptor for SIGIO (fcntl F_GETOWN_EX / F_GETSIG on cryo's copy); none for O_PATH (fcntl refuses it: EBADF). */
function fownOf(stolen: number, status: ProcStatus, flags: number): MessageValue {
  if (flags & O_PATH) return ZERO_FOWN;
  const ex = Buffer.alloc(8);
  rawSyscall('fcntl', stolen, F_GETOWN_EX, ex);
  const pid = readI32(ex, 4);
  const signum = Number(rawSyscall('fcntl', stolen, F_GETSIG, 0));
  if (pid === 0 && signum === 0) return ZERO_FOWN;
  return { uid: status.uid[0], euid: status.uid[1], signum, pid_type: readI32(ex, 0), pid };
}

function describe(t: FdTarget): string {
  switch (t.kind) {
    case 'path': return t.path;
    case 'pipe': return `pipe:[${t.inode}]`;
    case 'socket': return 'a socket';
    case 'anon': return `an ${t.anonKind} descriptor`;
    case 'namespace': return `a ${t.nsType} namespace file`;
    default: return t.target;
  }
}

/**
 * Every descriptor of the task into `table` (ids shared by descriptors of one open file, in this or
 * an earlier process), but cryo's own (`cryoFds`: other processes' parks in a shared table).
 * `listed`: its descriptors and targets as listed since the tree was frozen (else listed here).
 */
export function dumpFds(table: FileTable, pid: number, pidfd: number, status: ProcStatus, threads: ReadonlyMap<number, Injector>, listed: ReadonlyMap<number, FdTarget> | undefined, cryoFds: ReadonlySet<number> = new Set(), areaFor: (roomBytes: number) => BatchArea | undefined = () => undefined): void {
  const tids = [...threads.keys()];
  const inThread = (tid: number, name: string, ...args: (bigint | number)[]): bigint => threads.get(tid)!.raw(name, ...args);
  const eachInThread: DumpFd['eachInThread'] = (tid, room, calls) => {
    const area = areaFor(room.length);
    if (!area) return undefined;
    if (processVmWritev(pid, area.extra, room) !== room.length) throw new DumpError('FAILED', `cannot write the arguments of cryo's calls into task ${pid}`);
    return new SyscallBatch(() => threads.get(tid)!, area.place).runEach(calls(area.extra));
  };
  const seen: { fd: number; stolen: number; dev: number; ino: number; id: number }[] = [];
  // Open files already given an id, in this or an earlier process of the tree.
  const known = table.opened;
  try {
    // The tree is frozen since it was listed: only cryo's own descriptors came since (left out).
    for (const fd of listed?.keys() ?? listFds(pid)) {
      if (cryoFds.has(fd)) continue;
      const info = readFdinfo(pid, fd);
      const target = listed?.get(fd) ?? readFdTarget(pid, fd);
      const stolen = pidfdGetfd(pidfd, fd);
      const st = fstatSync(stolen);
      const { file: { id }, known: same } = known.claim(pid, fd, st.dev, st.ino, () => table.newId());
      const fdflags = (info.flags & O_CLOEXEC) ? 1 : 0;
      table.locks.note(pid, fd, id, info.locks);
      if (same) {
        closeSync(stolen);
        table.fdinfos.push({ id, flags: fdflags, type: (table.files.find((f) => f.id === id)?.type as string) ?? 'REG', fd });
        continue;
      }
      seen.push({ fd, stolen, dev: st.dev, ino: st.ino, id });
      const c: DumpFd = {
        table, pid, fd, id, info, target, st, stolen, fown: fownOf(stolen, status, info.flags), flags: info.flags & ~O_CLOEXEC,
        procFd: procPath(pid, `fd/${fd}`), inFlight: (fds, why) => inFlight(table, fds, why), threads: tids, inThread, eachInThread,
      };
      const kind = FD_KINDS.find((k) => k.matches(c));
      if (!kind) throw new DumpError('UNSUPPORTED', `fd ${fd} of task ${pid} is ${describe(target)}: cryo cannot dump it yet`);
      const entry = kind.dump(c);
      table.files.push({ type: kind.type, id, [kind.field]: entry });
      table.fdinfos.push({ id, flags: fdflags, type: kind.type, fd });
    }
  } finally {
    for (const s of seen) closeSync(s.stolen);
  }
}

/**
 * Descriptors in flight in a unix socket's queue (SCM_RIGHTS), received by cryo as copies of its
 * own (`fds`): once every process of the tree is dumped, each gets the file id of the open file
 * a process holds (kcmp), or is dumped itself, as a file no descriptor names. Returns the list
 * the ids fill (scm_entry.rights); cryo's copies are closed when the dump ends.
 */
export function inFlight(table: FileTable, fds: number[], why: string): number[] {
  const ids: number[] = [];
  table.finishers.push(() => { for (const fd of fds) try { closeSync(fd); } catch { /* closed */ } });
  table.whenTreeDumped(() => {
    const me = process.pid;
    for (const fd of fds) {
      const st = fstatSync(fd);
      const { file: { id }, known } = table.opened.claim(me, fd, st.dev, st.ino, () => table.newId());
      if (known) {
        ids.push(id);
        continue;
      }
      const info = readFdinfo(me, fd);
      const target = readFdTarget(me, fd);
      const c: DumpFd = {
        table, pid: me, fd, id, info, target, st, stolen: fd, fown: fownOf(fd, readStatus(me), info.flags), flags: info.flags & ~O_CLOEXEC,
        procFd: procPath(me, `fd/${fd}`), inFlight: (more, w) => inFlight(table, more, w),
        // cryo's own copy, in no task: no thread of its own to ask.
        threads: [], inThread: () => { throw new Error('internal: no thread'); }, eachInThread: () => undefined,
      };
      const kind = FD_KINDS.find((k) => k.matches(c));
      if (!kind || kind.type === 'UNIXSK') {
        throw new DumpError('UNSUPPORTED', `${why} has ${describe(target)} in flight in its queue (SCM_RIGHTS), held by no process of the tree: cryo cannot dump that yet`);
      }
      table.files.push({ type: kind.type, id, [kind.field]: kind.dump(c) });
      ids.push(id);
    }
  });
  return ids;
}
