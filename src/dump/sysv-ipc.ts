// The System V IPC objects the tree uses, as CRIU's ipcns-shm/sem/msg images: a segment some
// process of the tree has attached, made or last attached/detached; a semaphore set one of its
// semaphores was last operated on by the tree; a queue the tree last sent to or received from.
// Objects of the namespace that the tree never touched are other programs' and stay out.

import { SysError } from '../sys/index.js';
import { rawSyscall } from '../sys/raw.js';
import { DumpError } from '../shared/dump-error.js';
import type { MessageValue } from '../images/value.js';
import type { ImageSet } from './image-set.js';
import {
  GETPID, KIND_WORDS, type IpcObject, keyText, listIpc, msgQbytes, queuedMessages, shmContents, shmRmidForced, semValues,
} from '../shared/sysv-ipc.js';
import { VMA } from '../shared/vma-kinds.js';

/** A System V segment attached by a process of the tree (a VMA_AREA_SYSVIPC mapping). */
export interface Attach {
  pid: number;
  start: bigint;
  end: bigint;
  pgoff: bigint;
  shmid: number;
}

/** The SYSVIPC mappings among a process's VMA entries. */
export function attachesOf(pid: number, vmas: readonly MessageValue[]): Attach[] {
  return vmas.filter((v) => Number(v.status) & VMA.SYSVIPC).map((v) => ({
    pid, start: BigInt(v.start as bigint), end: BigInt(v.end as bigint), pgoff: BigInt(v.pgoff as bigint), shmid: Number(v.shmid),
  }));
}

const desc = (o: IpcObject): MessageValue => ({ key: o.key >>> 0, uid: o.uid, gid: o.gid, cuid: o.cuid, cgid: o.cgid, mode: o.mode, id: o.id });

function shmEntries(pids: ReadonlySet<number>, attaches: readonly Attach[], pageSize: number): { value: MessageValue; extra: Buffer }[] {
  const attached = new Set(attaches.map((a) => a.shmid));
  const out: { value: MessageValue; extra: Buffer }[] = [];
  const forced = shmRmidForced();
  for (const o of listIpc('shm')) {
    if (!attached.has(o.id) && !pids.has(o.row.cpid!) && !pids.has(o.row.lpid!)) continue;
    const size = o.row.size!;
    const whole = BigInt(Math.ceil(size / pageSize) * pageSize);
    for (const a of attaches.filter((x) => x.shmid === o.id)) {
      if (a.pgoff !== 0n || a.end - a.start !== whole) {
        throw new DumpError('UNSUPPORTED', `process ${a.pid} maps only part of System V shared memory segment ${o.id} at 0x${a.start.toString(16)} (offset ${a.pgoff} pages, ${a.end - a.start} of ${whole} bytes): cryo restores whole attachments only`);
      }
    }
    // Under shm_rmid_forced a segment nobody attaches was never attached (the last detach removes
    // it): all zeros, and cryo's own attachment would remove it when it ends.
    const never = o.row.nattch === 0 && forced;
    out.push({ value: { desc: desc(o), size: BigInt(size) }, extra: never ? Buffer.alloc(size) : shmContents(o.id, size) });
  }
  for (const id of attached) {
    if (!out.some((e) => Number((e.value.desc as MessageValue).id) === id)) {
      throw new DumpError('FAILED', `a process of the tree maps System V shared memory segment ${id}, which /proc/sysvipc/shm does not list (removed meanwhile?)`);
    }
  }
  return out;
}

/**
 * The object was removed between the listing and this call (EINVAL, EIDRM): another process's,
 * since the tree is frozen, so not the tree's to dump.
 */
const removedMeanwhile = (e: unknown) => e instanceof SysError && (e.code === 'EINVAL' || e.code === 'EIDRM');

/** Sets one of whose semaphores the tree operated on last, or in which it holds undo values (`undoSets`). */
function semEntries(pids: ReadonlySet<number>, undoSets: ReadonlySet<number>): { value: MessageValue; extra: number[] }[] {
  const out: { value: MessageValue; extra: number[] }[] = [];
  for (const o of listIpc('sem')) {
    const nsems = o.row.nsems!;
    let used = undoSets.has(o.id);
    try {
      for (let i = 0; i < nsems && !used; i++) used = pids.has(Number(rawSyscall('semctl', o.id, i, GETPID, 0)));
    } catch (e) {
      if (removedMeanwhile(e)) continue;
      throw e;
    }
    if (!used) continue;
    out.push({ value: { desc: desc(o), nsems }, extra: semValues(o.id, nsems) });
  }
  return out;
}

function msgEntries(pids: ReadonlySet<number>): { value: MessageValue; extra: (MessageValue | Buffer)[] }[] {
  const out: { value: MessageValue; extra: (MessageValue | Buffer)[] }[] = [];
  for (const o of listIpc('msg')) {
    if (!pids.has(o.row.lspid!) && !pids.has(o.row.lrpid!)) continue;
    const qnum = o.row.qnum!;
    const qbytes = msgQbytes(o.id);
    let msgs: (MessageValue | Buffer)[];
    try {
      msgs = queuedMessages(o.id, qnum, o.row.cbytes!).flat();
    } catch (e) {
      throw new DumpError('FAILED', `copying the ${qnum} messages of System V message queue ${o.id} (key ${keyText(o.key)}): ${(e as Error).message}`);
    }
    out.push({ value: { desc: desc(o), qbytes: Number(qbytes), qnum }, extra: msgs });
  }
  return out;
}

/** Writes ipcns-shm/sem/msg-NSID.img for the objects the tree uses; returns how many of each. */
export function dumpSysvIpc(images: ImageSet, nsId: number, pids: ReadonlySet<number>, attaches: readonly Attach[], pageSize: number, undoSets: ReadonlySet<number> = new Set()): Record<string, number> {
  const shm = shmEntries(pids, attaches, pageSize);
  const sem = semEntries(pids, undoSets);
  const msg = msgEntries(pids);
  if (shm.length > 0) images.write('ipcShm', nsId, 'IPCNS_SHM', shm);
  if (sem.length > 0) images.write('ipcSem', nsId, 'IPCNS_SEM', sem);
  if (msg.length > 0) images.write('ipcMsg', nsId, 'IPCNS_MSG', msg);
  return { [KIND_WORDS.shm]: shm.length, [KIND_WORDS.sem]: sem.length, [KIND_WORDS.msg]: msg.length };
}
