/**
 * File locks held by the processes of a dump: flock locks, POSIX record locks and OFD locks, as
 * CRIU 4.2 writes them (file_lock_entry in filelocks.img: kind, read/write, owner pid, the fd it is
 * held through, start and length, 0 meaning "to the end of the file").
 *
 * Dump: every descriptor's fdinfo lists the locks held through its open file ("lock:" lines); the
 * first descriptor (in dump order) that shows a lock records it. A POSIX lock belongs to a process
 * (its descriptor table), so it is kept once per process; flock and OFD locks belong to the open
 * file, so once per file id, whichever process of the tree shares it; so are leases (F_SETLEASE,
 * active ones: one being broken is refused at dump).
 * Restore: each lock is taken again by its owner, by an injected flock() or fcntl(F_SETLK /
 * F_OFD_SETLK, F_SETLEASE) on the recorded descriptor once every descriptor exists (a later close() of any
 * descriptor of the file in that process would drop its POSIX locks), non-blocking: a conflicting
 * lock held elsewhere is an error naming the file.
 */
import type { MessageValue } from '../images/value.js';
import { errnoName } from '../sys/index.js';
import { F_RDLCK, F_WRLCK, FL_FLOCK, FL_LEASE, FL_OFD, FL_POSIX } from '../shared/lock-table.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { SEEK_SET } from '../shared/constants.js';
import { writeI64, writeI16 } from '../sys/native-endian.js';

const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const F_SETLK = 6;
const F_OFD_SETLK = 37;

const F_SETLEASE = 1024;
/** CRIU marks a lease being broken by adding this to its type. */
const LEASE_BREAKING = 4;

const kindName = (flag: number) => (flag === FL_POSIX ? 'POSIX' : flag === FL_FLOCK ? 'flock' : flag === FL_OFD ? 'OFD' : flag === FL_LEASE ? 'lease' : `kind ${flag}`);
const typeName = (type: number) => (type === F_WRLCK ? 'write' : type === F_RDLCK ? 'read' : `type ${type}`);
const num = (v: unknown): number => Number((v as number | bigint | undefined) ?? 0);

/** filelocks.img's entries (empty when the dump has none). */
export function lockEntries(all: ReadonlyMap<string, { entries: readonly { value: MessageValue }[] }>): MessageValue[] {
  return (all.get('filelocks.img')?.entries ?? []).map((e) => e.value);
}

const describe = (e: MessageValue) => {
  const start = BigInt(e.start as bigint);
  const len = BigInt(e.len as bigint);
  const range = num(e.flag) === FL_FLOCK || num(e.flag) === FL_LEASE ? '' : ` on bytes ${start}-${len === 0n ? 'EOF' : (start + len - 1n).toString()}`;
  return `the ${kindName(num(e.flag))} ${typeName(num(e.type))} lock of process ${num(e.pid)} (fd ${num(e.fd)})${range}`;
};

/**
 * Preflight: every lock is of a kind cryo takes again, and its owner is a live process of the dump
 * with that descriptor. `fdsOf` gives a live process's descriptor numbers (undefined: not one).
 */
export function checkLocks(locks: readonly MessageValue[], fdsOf: (pid: number) => ReadonlySet<number> | undefined): void {
  for (const e of locks) {
    const flag = num(e.flag);
    if (flag === FL_LEASE && (num(e.type) & LEASE_BREAKING) !== 0) {
      throw new RestoreError('UNSUPPORTED', `filelocks.img: process ${num(e.pid)} held a lease on fd ${num(e.fd)} that was being broken: cryo restores active leases only`);
    }
    if (flag !== FL_POSIX && flag !== FL_FLOCK && flag !== FL_OFD && flag !== FL_LEASE) throw new RestoreError('UNSUPPORTED', `filelocks.img: a lock of unknown kind ${flag} (fd ${num(e.fd)} of process ${num(e.pid)}); cryo restores flock, POSIX and OFD locks and leases`);
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
    if (flag === FL_LEASE) {
      const type = num(e.type);
      call = `fcntl(${fd}, F_SETLEASE, ${type === F_WRLCK ? 'F_WRLCK' : 'F_RDLCK'})`;
      r = ctx.raw('fcntl', fd, F_SETLEASE, type);
    } else if (flag === FL_FLOCK) {
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
      throw new RestoreError('FAILED', `${err} from ${call} in process ${ctx.pid}: cannot take ${describe(e)} on ${fileName(fd)} again${busy ? flag === FL_LEASE ? ': another process has the file open in a way the lease excludes' : ': another process holds a conflicting lock on it now' : ''}`);
    }
  }
}
