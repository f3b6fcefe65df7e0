// The file locks a dump finds, collected descriptor by descriptor as src/dump/files.ts walks them
// (src/files/locks.ts has the rest: filelocks.img checks and the restore). It lives beside the
// dump's file table, which owns one.
import type { MessageValue } from '../images/value.js';
import type { FileLock } from '../proc/index.js';
import { DumpError } from './dump-error.js';

/** file_lock_entry.flag (CRIU's FL_* kinds). */
export const FL_POSIX = 1;
export const FL_FLOCK = 2;
export const FL_OFD = 4;
export const FL_LEASE = 8;
/** file_lock_entry.type: the fcntl lock types (generic Linux values). */
export const F_RDLCK = 0;
export const F_WRLCK = 1;
const KIND_FLAG: Record<string, number> = { POSIX: FL_POSIX, FLOCK: FL_FLOCK, OFDLCK: FL_OFD };
const TYPE: Record<string, number> = { READ: F_RDLCK, WRITE: F_WRLCK };

/** One lock as /proc/locks identifies it, for the completeness check. */
const procKey = (l: FileLock, pid: number) => `${l.kind}:${pid}:${l.devMajor}:${l.devMinor}:${l.inode}:${l.start}:${l.end ?? 'EOF'}:${l.type}`;

/** The locks of a dump, collected descriptor by descriptor (src/dump/files.ts feeds it). */
export class LockTable {
  readonly entries: MessageValue[] = [];
  private readonly keys = new Set<string>();
  private readonly posix = new Set<string>();
  private readonly leases = new Set<string>();

  /** Records the locks fdinfo showed on `fd` of `pid`, whose open file got `fileId`. */
  note(pid: number, fd: number, fileId: number, locks: readonly FileLock[]): void {
    for (const l of locks) {
      if (l.blocked) continue; // a waiting request is no lock: the task asks again when it runs
      if (l.kind === 'LEASE') {
        this.noteLease(pid, fd, fileId, l);
        continue;
      }
      const flag = KIND_FLAG[l.kind];
      const type = TYPE[l.type];
      if (flag === undefined || type === undefined || l.mode !== 'ADVISORY') {
        const what = l.kind === 'DELEG' ? 'an NFS delegation' : `a ${l.kind} ${l.mode} ${l.type} lock`;
        throw new DumpError('UNSUPPORTED', `process ${pid} holds ${what} on fd ${fd} (inode ${l.inode}): cryo cannot dump that kind of lock yet; release it before the dump`);
      }
      // POSIX locks are the process's; flock and OFD locks are the open file's (shared by its fds).
      const end = l.end ?? 'EOF';
      const key = flag === FL_POSIX ? procKey(l, pid) : `${l.kind}:${fileId}:${l.start}:${end}:${l.type}`;
      if (this.keys.has(key)) continue;
      this.keys.add(key);
      if (flag === FL_POSIX) this.posix.add(key);
      const len = l.end === null ? 0n : l.end + 1n - l.start;
      this.entries.push({ flag, type, pid, fd, start: l.start, len });
    }
  }

  /** A lease (F_SETLEASE) is the open file's, like a flock lock; one being broken is refused. */
  private noteLease(pid: number, fd: number, fileId: number, l: FileLock): void {
    const type = TYPE[l.type];
    if (l.mode !== 'ACTIVE' || type === undefined) {
      throw new DumpError('UNSUPPORTED', `process ${pid} holds a ${l.type} lease on fd ${fd} (inode ${l.inode}) that is ${l.mode === 'BREAKING' ? 'being broken (another process opened the file)' : l.mode}: cryo dumps active leases only; dump once the lease is released or the break is over`);
    }
    const key = `LEASE:${fileId}`;
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.leases.add(`${l.devMajor}:${l.devMinor}:${l.inode}`);
    this.entries.push({ flag: FL_LEASE, type, pid, fd, start: 0n, len: 0n });
  }

  /**
   * Every POSIX lock /proc/locks gives a process of the tree was found through a descriptor: one
   * missing would be silently dropped (POSIX locks live as long as a descriptor of the file does,
   * so this is a safety net for what fdinfo cannot show).
   */
  checkComplete(all: readonly FileLock[], pids: ReadonlySet<number>): void {
    for (const l of all) {
      if (l.blocked || !pids.has(l.pid)) continue;
      if (l.kind === 'DELEG' || (l.kind === 'LEASE' && !this.leases.has(`${l.devMajor}:${l.devMinor}:${l.inode}`))) {
        throw new DumpError('UNSUPPORTED', `process ${l.pid} holds a lease on inode ${l.inode} through no descriptor cryo found: cryo cannot dump it; release it before the dump`);
      }
      if (l.kind === 'POSIX' && !this.posix.has(procKey(l, l.pid))) {
        throw new DumpError('UNSUPPORTED', `process ${l.pid} holds a POSIX ${l.type} lock on inode ${l.inode} (bytes ${l.start}-${l.end ?? 'EOF'}) through no descriptor cryo found: cryo cannot dump it`);
      }
    }
  }
}
