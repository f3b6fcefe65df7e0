// System V IPC objects from ipcns-shm/sem/msg images, made again with their dumped ids
// (kernel.KIND_next_id picks the id of the next object made), keys, owners, modes and contents
// before the processes are built, so that their segments can be attached where they were.
// Preflight refuses when an id or key is taken on this machine, except by an object identical to
// the dumped one (key, id, mode, owner, size, contents): the dumped tree's own, left behind when it
// was killed after the dump, which the restored tree uses as it is. A failed restore removes the
// objects it made, never those it found.

import type { Image } from '../images/image.js';
import type { MessageValue } from '../images/value.js';
import { getpid, processVmWritev } from '../sys/index.js';
import { rawSyscall } from '../sys/raw.js';
import { writeU64, writeU16 } from '../sys/native-endian.js';
import { RestoreError } from '../shared/restore-error.js';
import { guardIpc, type Taken } from '../sys/guardian.js';
import {
  IPC_CREAT, IPC_EXCL, IPC_NOWAIT, IPCRM_OPTION, KIND_WORDS, SETALL, SHM_DEST, type IpcKind, type IpcObject, ipcRemove, ipcSetOwner, keyText, listIpc, msgQbytes, msgmnb,
  queuedMessages, semValues, setNextId, shmContents, shmRmidForced,
} from '../shared/sysv-ipc.js';

interface Planned {
  kind: IpcKind;
  file: string;
  desc: MessageValue;
  entry: MessageValue;
  extra: unknown;
  /** Found on this machine as dumped: used as it is, neither made nor removed. */
  found?: boolean;
}

const num = (v: unknown) => Number(v ?? 0);
/** The key as the kernel keeps it (a signed int). */
const keyOf = (d: MessageValue) => num(d.key) | 0;
const what = (p: Planned) => `System V ${KIND_WORDS[p.kind]} ${num(p.desc.id)} (key ${keyText(keyOf(p.desc))})`;
/** Bytes cryo writes into a new segment at a time; pages of zeros are left to the kernel. */
const CHUNK = 4096;

export class SysvIpc {
  private readonly planned: Planned[] = [];
  private readonly made: { kind: IpcKind; id: number; taken: Taken }[] = [];
  private readonly attached: bigint[] = [];

  constructor(all: ReadonlyMap<string, Image>) {
    for (const [file, image] of all) {
      const m = /^ipcns-(shm|sem|msg)-\d+\.img$/.exec(file);
      if (!m) continue;
      for (const e of image.entries) this.planned.push({ kind: m[1] as IpcKind, file, desc: e.value.desc as MessageValue, entry: e.value, extra: e.extra });
    }
  }

  /** Before the point of no return: the images agree with themselves and every id and key is free here. */
  check(): void {
    if (this.planned.length === 0) return;
    const live = { shm: listIpc('shm'), sem: listIpc('sem'), msg: listIpc('msg') };
    const limit = msgmnb();
    for (const p of this.planned) {
      const id = num(p.desc.id);
      const key = keyOf(p.desc);
      if (p.kind === 'shm') {
        if (p.entry.in_pagemaps === true) throw new RestoreError('UNSUPPORTED', `${p.file}: ${what(p)} keeps its contents in pagemap-shmem images (CRIU 4.x); cryo restores contents kept in the entry only`);
        if (!Buffer.isBuffer(p.extra) || p.extra.length !== num(p.entry.size)) throw new RestoreError('IMAGE_INCONSISTENT', `${p.file}: ${what(p)} has ${Buffer.isBuffer(p.extra) ? p.extra.length : 0} bytes of contents for size ${num(p.entry.size)}`);
      } else if (p.kind === 'sem') {
        if (!Array.isArray(p.extra) || p.extra.length !== num(p.entry.nsems)) throw new RestoreError('IMAGE_INCONSISTENT', `${p.file}: ${what(p)} has ${Array.isArray(p.extra) ? p.extra.length : 0} values for ${num(p.entry.nsems)} semaphores`);
      } else {
        const list = Array.isArray(p.extra) ? p.extra : [];
        if (list.length !== 2 * num(p.entry.qnum)) throw new RestoreError('IMAGE_INCONSISTENT', `${p.file}: ${what(p)} holds ${list.length / 2} messages, its entry says ${num(p.entry.qnum)}`);
      }
      const taken = live[p.kind].find((o) => o.id === id || (key !== 0 && o.key === key));
      if (taken && sameObject(p, taken)) {
        p.found = true;
        continue;
      }
      if (taken) {
        throw new RestoreError('IPC_TAKEN', `${what(p)} cannot be made again: this machine has ${KIND_WORDS[p.kind]} ${taken.id} with key ${keyText(taken.key)} (owner uid ${taken.uid}), not the same as the dumped one; if it is the dumped tree's own, changed since, remove it (ipcrm ${IPCRM_OPTION[p.kind]} ${taken.id}), else restore where it is free`);
      }
      if (p.kind === 'msg' && num(p.entry.qbytes) > limit) {
        throw new RestoreError('UNSUPPORTED', `${what(p)} may hold ${num(p.entry.qbytes)} bytes, above kernel.msgmnb (${limit}) here: raising a queue's limit needs CAP_SYS_RESOURCE, which cryo lacks; raise kernel.msgmnb to ${num(p.entry.qbytes)}`);
      }
    }
  }

  /** Makes every object, each with its dumped id; throws (and removes nothing: see removeAll) on failure. */
  createAll(): void {
    for (const p of this.planned) if (!p.found) this.create(p);
  }

  /** Removes the objects this restore made (a failed restore). */
  removeAll(): void {
    this.detach(false);
    for (const m of this.made.splice(0)) {
      m.taken();
      try { ipcRemove(m.kind, m.id); } catch { /* gone already */ }
    }
  }

  private create(p: Planned): void {
    const id = num(p.desc.id);
    const key = keyOf(p.desc);
    const flags = IPC_CREAT | IPC_EXCL | (num(p.desc.mode) & 0o777);
    let got: number;
    setNextId(p.kind, id);
    try {
      got = Number(p.kind === 'shm' ? rawSyscall('shmget', key, num(p.entry.size), flags)
        : p.kind === 'sem' ? rawSyscall('semget', key, num(p.entry.nsems), flags)
          : rawSyscall('msgget', key, flags));
    } catch (e) {
      throw new RestoreError('FAILED', `making ${what(p)} again: ${(e as Error).message}`);
    }
    this.made.push({ kind: p.kind, id: got, taken: guardIpc(p.kind, got) });
    if (got !== id) throw new RestoreError('FAILED', `${what(p)} came back as id ${got} (another program took the id meanwhile?)`);
    if (p.kind === 'shm') this.fillShm(id, p.extra as Buffer);
    else if (p.kind === 'sem') this.fillSem(id, p.extra as number[]);
    else this.fillMsg(p, id);
    ipcSetOwner(p.kind, id, num(p.desc.uid), num(p.desc.gid), num(p.desc.mode));
  }

  /** Writes the contents through an attachment of cryo's, kept until the processes attached theirs (see detach). */
  private fillShm(id: number, data: Buffer): void {
    const addr = rawSyscall('shmat', id, 0, 0);
    this.attached.push(addr);
    for (let off = 0; off < data.length; off += CHUNK) {
      const chunk = data.subarray(off, off + CHUNK);
      if (chunk.some((b) => b !== 0)) processVmWritev(getpid(), addr + BigInt(off), chunk);
    }
  }

  /**
   * Lets go of cryo's attachments. Under kernel.shm_rmid_forced the last detach removes a segment:
   * cryo detaches only once the restored processes attached theirs. A segment that was marked for
   * removal (IPC_RMID while attached: SHM_DEST in its mode) is marked again first: it goes when
   * the last restored process detaches it.
   */
  detach(markRemoved = true): void {
    if (markRemoved && this.attached.length > 0) {
      for (const p of this.planned) if (p.kind === 'shm' && !p.found && num(p.desc.mode) & SHM_DEST) ipcRemove('shm', num(p.desc.id));
    }
    for (const addr of this.attached.splice(0)) {
      try { rawSyscall('shmdt', addr); } catch { /* not attached */ }
    }
  }

  private fillSem(id: number, values: number[]): void {
    const b = Buffer.alloc(2 * Math.max(values.length, 1));
    values.forEach((v, i) => writeU16(b, v, 2 * i));
    rawSyscall('semctl', id, 0, SETALL, b);
  }

  private fillMsg(p: Planned, id: number): void {
    const qbytes = BigInt(num(p.entry.qbytes));
    if (msgQbytes(id) !== qbytes) ipcSetOwner('msg', id, num(p.desc.uid), num(p.desc.gid), num(p.desc.mode) | 0o600, qbytes);
    const list = p.extra as (MessageValue | Buffer)[];
    for (let i = 0; i + 1 < list.length; i += 2) {
      const m = list[i] as MessageValue;
      const data = list[i + 1] as Buffer;
      const buf = Buffer.alloc(8 + data.length);
      writeU64(buf, BigInt(m.mtype as bigint), 0);
      data.copy(buf, 8);
      try {
        rawSyscall('msgsnd', id, buf, data.length, IPC_NOWAIT);
      } catch (e) {
        throw new RestoreError('FAILED', `queueing message ${i / 2} (${data.length} bytes) on ${what(p)} again: ${(e as Error).message}`);
      }
    }
  }
}

const sameWords = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => Number(x) === Number(b[i]));

/**
 * The live object `o` is the dumped one as it was: same id, key, mode, owners, size and contents.
 * A segment nobody attaches under kernel.shm_rmid_forced is not read (cryo's own detach would remove it).
 */
function sameObject(p: Planned, o: IpcObject): boolean {
  const d = p.desc;
  if (o.id !== num(d.id) || o.key !== keyOf(d) || o.mode !== num(d.mode)) return false;
  if (o.uid !== num(d.uid) || o.gid !== num(d.gid) || o.cuid !== num(d.cuid) || o.cgid !== num(d.cgid)) return false;
  try {
    if (p.kind === 'shm') {
      if (o.row.size !== num(p.entry.size) || (o.row.nattch === 0 && shmRmidForced())) return false;
      return shmContents(o.id, o.row.size!).equals(p.extra as Buffer);
    }
    if (p.kind === 'sem') return o.row.nsems === num(p.entry.nsems) && sameWords(semValues(o.id, o.row.nsems!), p.extra as number[]);
    if (o.row.qnum !== num(p.entry.qnum) || msgQbytes(o.id) !== BigInt(num(p.entry.qbytes))) return false;
    const list = p.extra as (MessageValue | Buffer)[];
    return queuedMessages(o.id, o.row.qnum!, o.row.cbytes!).every(([m, data], i) =>
      BigInt((list[2 * i] as MessageValue).mtype as bigint) === m.mtype && data.equals(list[2 * i + 1] as Buffer));
  } catch {
    return false; // removed meanwhile, or not readable by cryo: not known to be the same
  }
}
