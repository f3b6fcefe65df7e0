// System V IPC objects (shared memory, semaphore sets, message queues) as this IPC namespace
// lists them in /proc/sysvipc, and the few calls dump and restore make on them from cryo itself.
// The objects live in the kernel, not in any task: cryo reads and makes them directly.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { rawSyscall } from '../sys/raw.js';
import { readU16, readU64, writeU32, writeU64 } from '../sys/native-endian.js';
import { getpid, processVmReadv } from '../sys/index.js';

export type IpcKind = 'shm' | 'sem' | 'msg';

export const IPC_CREAT = 0o1000;
export const IPC_EXCL = 0o2000;
export const IPC_NOWAIT = 0o4000;
export const IPC_RMID = 0;
export const IPC_SET = 1;
export const IPC_STAT = 2;
export const GETPID = 11;
export const GETNCNT = 14;
export const GETZCNT = 15;

/** The values of semaphore set `id`'s `nsems` semaphores (semctl GETALL: unsigned shorts). */
export function semValues(id: number, nsems: number): number[] {
  const b = Buffer.alloc(2 * nsems);
  rawSyscall('semctl', id, 0, GETALL, b);
  return Array.from({ length: nsems }, (_, i) => readU16(b, 2 * i));
}
export const GETALL = 13;
export const SETALL = 17;
export const MSG_COPY = 0o40000;
export const SHM_RDONLY = 0o10000;
export const SHM_REMAP = 0o40000;
export const SHM_EXEC = 0o100000;
/** shm mode bits the kernel adds: marked for removal, locked in memory, hugetlb. */
export const SHM_DEST = 0o1000;

/** One row of /proc/sysvipc/{shm,sem,msg}, by column name (key, shmid/semid/msqid, perms, ...). */
export type IpcRow = Record<string, number>;

export interface IpcObject {
  kind: IpcKind;
  /** The key as the kernel keeps it (a signed int); 0 is IPC_PRIVATE. */
  key: number;
  id: number;
  /** perms as the kernel reports them: the 9 permission bits and the kernel's own flags. */
  mode: number;
  uid: number;
  gid: number;
  cuid: number;
  cgid: number;
  row: IpcRow;
}

const ID_COLUMN: Record<IpcKind, string> = { shm: 'shmid', sem: 'semid', msg: 'msqid' };
export const KIND_WORDS: Record<IpcKind, string> = { shm: 'shared memory segment', sem: 'semaphore set', msg: 'message queue' };
/** ipcrm's option removing an object of each kind by id. */
export const IPCRM_OPTION: Record<IpcKind, string> = { shm: '-m', sem: '-s', msg: '-q' };

/** Every object of one kind in cryo's IPC namespace. */
export function listIpc(kind: IpcKind): IpcObject[] {
  const lines = readFileSync(`/proc/sysvipc/${kind}`, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const head = lines[0]!.trim().split(/\s+/);
  return lines.slice(1).map((l) => {
    const cols = l.trim().split(/\s+/);
    const row: IpcRow = {};
    head.forEach((h, i) => { row[h] = h === 'perms' ? parseInt(cols[i]!, 8) : Number(cols[i]); });
    return {
      kind, key: row.key!, id: row[ID_COLUMN[kind]]!, mode: row.perms!, uid: row.uid!, gid: row.gid!, cuid: row.cuid!, cgid: row.cgid!, row,
    };
  });
}

/**
 * The id the next object of this kind gets (kernel.KIND_next_id, which the kernel forgets once used). The
 * setting is the IPC namespace's: where /proc/sys is mounted read-only (a container), a helper in
 * a mount namespace of its own writes it through a procfs of its own.
 */
export function setNextId(kind: IpcKind, id: number): void {
  const file = `/proc/sys/kernel/${kind}_next_id`;
  try {
    writeFileSync(file, `${id}\n`);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EROFS') throw e;
  }
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', '--mount-proc', 'sh', '-c', `echo ${id} > ${file}`], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${file} is read-only here and writing it from a mount namespace of its own failed (${(r.stderr || r.error?.message || `exit ${r.status}`).trim()}): cryo needs it to give the object its id`);
  }
}

/** kernel.shm_rmid_forced: a segment is removed when its last attachment goes. */
export function shmRmidForced(): boolean {
  return readFileSync('/proc/sys/kernel/shm_rmid_forced', 'utf8').trim() !== '0';
}

/** kernel.msgmnb: the most bytes a queue may hold without CAP_SYS_RESOURCE. */
export function msgmnb(): number {
  return Number(readFileSync('/proc/sys/kernel/msgmnb', 'utf8').trim());
}

export const keyText = (key: number) => key === 0 ? 'IPC_PRIVATE' : `0x${(key >>> 0).toString(16).padStart(8, '0')}`;

/** shmctl/msgctl(id, cmd, arg) or semctl(id, 0, cmd, arg). */
export function ipcCtl(kind: IpcKind, id: number, cmd: number, arg: Buffer | number = 0): bigint {
  return kind === 'sem' ? rawSyscall('semctl', id, 0, cmd, arg) : rawSyscall(`${kind}ctl`, id, cmd, arg);
}

export function ipcRemove(kind: IpcKind, id: number): void {
  ipcCtl(kind, id, IPC_RMID);
}

// struct ipc64_perm and the msqid64_ds field cryo sets, laid out alike by asm-generic and powerpc
// on 64 bits: key, uid, gid, cuid, cgid, mode (u32 each), then seq; msg_qbytes after the perm
// (48 bytes) and five 8-byte fields.
const PERM_UID = 4;
const PERM_GID = 8;
const PERM_MODE = 20;
const MSQ_QBYTES = 88;
/** Big enough for shmid64_ds, semid64_ds and msqid64_ds. */
const DS_BYTES = 256;

/** IPC_STAT then IPC_SET with the owner and permission bits (and a queue's byte limit). */
export function ipcSetOwner(kind: IpcKind, id: number, uid: number, gid: number, mode: number, qbytes?: bigint): void {
  const ds = Buffer.alloc(DS_BYTES);
  ipcCtl(kind, id, IPC_STAT, ds);
  writeU32(ds, uid >>> 0, PERM_UID);
  writeU32(ds, gid >>> 0, PERM_GID);
  writeU32(ds, mode & 0o777, PERM_MODE);
  if (qbytes !== undefined) writeU64(ds, qbytes, MSQ_QBYTES);
  ipcCtl(kind, id, IPC_SET, ds);
}

/** A queue's msg_qbytes (IPC_STAT). */
export function msgQbytes(id: number): bigint {
  const ds = Buffer.alloc(DS_BYTES);
  ipcCtl('msg', id, IPC_STAT, ds);
  return readU64(ds, MSQ_QBYTES);
}

/** Segment `id`'s bytes, read through a read-only attachment of cryo's own (which it ends). */
export function shmContents(id: number, size: number): Buffer {
  const addr = rawSyscall('shmat', id, 0, SHM_RDONLY);
  try {
    return size === 0 ? Buffer.alloc(0) : processVmReadv(getpid(), addr, size);
  } finally {
    rawSyscall('shmdt', addr);
  }
}

/** One queued message as CRIU's image keeps it: ipc_msg {mtype, msize}, then its bytes. */
export type QueuedMessage = [{ mtype: bigint; msize: number }, Buffer];

/** Copies of the `qnum` messages of queue `id` (`cbytes` in all), left queued (MSG_COPY). */
export function queuedMessages(id: number, qnum: number, cbytes: number): QueuedMessage[] {
  // One message is at most the whole queue; the buffer starts with its type (a long).
  const buf = Buffer.alloc(8 + Math.max(cbytes, 1));
  const out: QueuedMessage[] = [];
  for (let i = 0; i < qnum; i++) {
    const n = Number(rawSyscall('msgrcv', id, buf, buf.length - 8, i, IPC_NOWAIT | MSG_COPY));
    out.push([{ mtype: readU64(buf, 0), msize: n }, Buffer.from(buf.subarray(8, 8 + n))]);
  }
  return out;
}
