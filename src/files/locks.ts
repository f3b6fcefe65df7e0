/**
 * File locks held by the processes of a dump: flock locks, POSIX record locks and OFD locks, as
 * CRIU 4.2 writes them (file_lock_entry in filelocks.img: kind, read/write, owner pid, the fd it is
 * held through, start and length, 0 meaning "to the end of the file").
 *
 * Dump: every descriptor's fdinfo lists the locks held through its open file ("lock:" lines); the
 * first descriptor (in dump order) that shows a lock records it. A POSIX lock belongs to a process
 * (its descriptor table), so it is kept once per process; flock and OFD locks belong to the open
 * file, so once per file id, whichever process of the tree shares it. Leases are refused.
 * Restore: each lock is taken again by its owner, by an injected flock() or fcntl(F_SETLK /
 * F_OFD_SETLK) on the recorded descriptor once every descriptor exists (a later close() of any
 * descriptor of the file in that process would drop its POSIX locks), non-blocking: a conflicting
 * lock held elsewhere is an error naming the file.
 */
import type { MessageValue } from '../images/value.js';
import type { FileLock } from '../proc/index.js';
import { errnoName } from '../sys/index.js';
import { DumpError } from '../dump/errors.js';
import { RestoreError } from '../restore/errors.js';
import type { TaskCtx } from '../restore/task-ctx.js';
import { SEEK_SET } from './constants.js';
import { writeI64, writeI16 } from '../sys/native-endian.js';

/** file_lock_entry.flag (CRIU's FL_* kinds). */
export const FL_POSIX = 1;
export const FL_FLOCK = 2;
export const FL_OFD = 4;
export const FL_LEASE = 8;
/** file_lock_entry.type: the fcntl lock types (generic Linux values). */
const F_RDLCK = 0;
const F_WRLCK = 1;
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const F_SETLK = 6;
const F_OFD_SETLK = 37;

const KIND_FLAG: Record<string, number> = { POSIX: FL_POSIX, FLOCK: FL_FLOCK, OFDLCK: FL_OFD };
const TYPE: Record<string, number> = { READ: F_RDLCK, WRITE: F_WRLCK };
const kindName = (flag: number) => (flag === FL_POSIX ? 'POSIX' : flag === FL_FLOCK ? 'flock' : flag === FL_OFD ? 'OFD' : `kind ${flag}`);
const typeName = (type: number) => (type === F_WRLCK ? 'write' : type === F_RDLCK ? 'read' : `type ${type}`);
const num = (v: unknown): number => Number((v as number | bigint | undefined) ?? 0);

/** One lock as /proc/locks identifies it, for the completeness check. */
const procKey = (l: FileLock, pid: number) => `${l.kind}:${pid}:${l.devMajor}:${l.devMinor}:${l.inode}:${l.start}:${l.end ?? 'EOF'}:${l.type}`;

/** The locks of a dump, collected descriptor by descriptor (src/dump/files.ts feeds it). */
export class LockTable {
  readonly entries: MessageValue[] = [];
  private readonly keys = new Set<string>();
  private readonly posix = new Set<string>();

  /** Records the locks fdinfo showed on `fd` of `pid`, whose open file got `fileId`. */
  note(pid: number, fd: number, fileId: number, locks: readonly FileLock[]): void {
    for (const l of locks) {
      if (l.blocked) continue; // a waiting request is no lock: the task asks again when it runs
      const flag = KIND_FLAG[l.kind];
      const type = TYPE[l.type];
      if (flag === undefined || type === undefined || l.mode !== 'ADVISORY') {
        const what = l.kind === 'LEASE' || l.kind === 'DELEG' ? 'a lease' : `a ${l.kind} ${l.mode} ${l.type} lock`;
        throw new DumpError('UNSUPPORTED', `process ${pid} holds ${what} on fd ${fd} (inode ${l.inode}): cryo cannot dump ${l.kind === 'LEASE' ? 'leases' : 'that kind of lock'} yet; release it before the dump`);
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

  /**
   * Every POSIX lock /proc/locks gives a process of the tree was found through a descriptor: one
   * missing would be silently dropped (POSIX locks live as long as a descriptor of the file does,
   * so this is a safety net for what fdinfo cannot show).
   */
  checkComplete(all: readonly FileLock[], pids: ReadonlySet<number>): void {
    for (const l of all) {
      if (l.blocked || !pids.has(l.pid)) continue;
      if (l.kind === 'LEASE' || l.kind === 'DELEG') {
        throw new DumpError('UNSUPPORTED', `process ${l.pid} holds a lease on inode ${l.inode}: cryo cannot dump leases yet; release it before the dump`);
      }
      if (l.kind === 'POSIX' && !this.posix.has(procKey(l, l.pid))) {
        throw new DumpError('UNSUPPORTED', `process ${l.pid} holds a POSIX ${l.type} lock on inode ${l.inode} (bytes ${l.start}-${l.end ?? 'EOF'}) through no descriptor cryo found: cryo cannot dump it`);
      }
    }
  }
}

/** filelocks.img's entries (empty when the dump has none). */
export function lockEntries(all: ReadonlyMap<string, { entries: readonly { value: MessageValue }[] }>): MessageValue[] {
  return (all.get('filelocks.img')?.entries ?? []).map((e) => e.value);
}

const describe = (e: MessageValue) => {
  const start = BigInt(e.start as bigint);
  const len = BigInt(e.len as bigint);
  const range = num(e.flag) === FL_FLOCK ? '' : ` on bytes ${start}-${len === 0n ? 'EOF' : (start + len - 1n).toString()}`;
  return `the ${kindName(num(e.flag))} ${typeName(num(e.type))} lock of process ${num(e.pid)} (fd ${num(e.fd)})${range}`;
};

/**
 * Preflight: every lock is of a kind cryo takes again, and its owner is a live process of the dump
 * with that descriptor. `fdsOf` gives a live process's descriptor numbers (undefined: not one).
 */
export function checkLocks(locks: readonly MessageValue[], fdsOf: (pid: number) => ReadonlySet<number> | undefined): void {
  for (const e of locks) {
    const flag = num(e.flag);
    if (flag === FL_LEASE) throw new RestoreError('UNSUPPORTED', `filelocks.img: process ${num(e.pid)} held a lease on fd ${num(e.fd)}; cryo cannot restore leases yet`);
    if (flag !== FL_POSIX && flag !== FL_FLOCK && flag !== FL_OFD) throw new RestoreError('UNSUPPORTED', `filelocks.img: a lock of unknown kind ${flag} (fd ${num(e.fd)} of process ${num(e.pid)}); cryo restores flock, POSIX and OFD locks`);
    const type = num(e.type);
    if (type !== F_RDLCK && type !== F_WRLCK) throw new RestoreError('UNSUPPORTED', `filelocks.img: ${describe(e)} has lock type ${type}; cryo restores read and write locks only`);
    if (BigInt(e.start as bigint) < 0n || BigInt(e.len as bigint) < 0n) throw new RestoreError('IMAGE_INCONSISTENT', `filelocks.img: ${describe(e)} has a negative start or length`);
    const fds = fdsOf(num(e.pid));
    if (fds === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `filelocks.img: ${describe(e)} belongs to no live process of the dump`);
    if (!fds.has(num(e.fd))) throw new RestoreError('IMAGE_INCONSISTENT', `filelocks.img: ${describe(e)} is held through fd ${num(e.fd)}, which process ${num(e.pid)} does not have`);
  }
}

/** struct flock (64-bit layout, all Linux 64-bit ABIs): type, whence, start, len, pid. */
function flockStruct(e: MessageValue): Buffer {
  const b = Buffer.alloc(32);
  writeI16(b, num(e.type), 0);
  writeI16(b, SEEK_SET, 2);
  writeI64(b, BigInt(e.start as bigint), 8);
  writeI64(b, BigInt(e.len as bigint), 16);
  return b;
}

/**
 * Takes every lock of `ctx`'s process again (after every descriptor of the tree is in place).
 * `fileName` names the file behind a descriptor for messages.
 */
export function restoreLocks(ctx: TaskCtx, locks: readonly MessageValue[], fileName: (fd: number) => string): void {
  for (const e of locks) {
    if (num(e.pid) !== ctx.pid) continue;
    const fd = num(e.fd);
    const flag = num(e.flag);
    let call: string;
    let r: bigint;
    if (flag === FL_FLOCK) {
      const op = num(e.type) === F_WRLCK ? LOCK_EX : LOCK_SH;
      call = `flock(${fd}, ${op === LOCK_EX ? 'LOCK_EX' : 'LOCK_SH'}|LOCK_NB)`;
      r = ctx.raw('flock', fd, op | LOCK_NB);
    } else {
      const cmd = flag === FL_OFD ? F_OFD_SETLK : F_SETLK;
      call = `fcntl(${fd}, ${flag === FL_OFD ? 'F_OFD_SETLK' : 'F_SETLK'})`;
      r = ctx.raw('fcntl', fd, cmd, ctx.put(flockStruct(e), 512));
    }
    if (r < 0n) {
      const err = errnoName(Number(-r));
      const busy = err === 'EAGAIN' || err === 'EACCES' || err === 'EWOULDBLOCK';
      throw new RestoreError('FAILED', `${err} from ${call} in process ${ctx.pid}: cannot take ${describe(e)} on ${fileName(fd)} again${busy ? ': another process holds a conflicting lock on it now' : ''}`);
    }
  }
}
