// Mappings of a packet socket's RX/TX rings (VMA_AREA_SOCKET, as CRIU writes them: shmid is the
// socket's file id; no pages are saved: the frames in a ring are the kernel's and are not kept, as
// with CRIU). Restore maps each again, where it was, from the new socket once its rings are set.
// A mapping whose socket the process does not hold as a packet socket descriptor (closed since,
// inherited from another process, or another kind of socket) is refused at dump.
import type { Vma } from '../proc/index.js';
import type { MessageValue } from '../images/value.js';
import { DumpError } from '../shared/dump-error.js';
import type { FileTable } from '../shared/file-table.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { VMA } from '../shared/vma-kinds.js';
import { injectMmap } from '../inject/index.js';
import { MAP_FIXED } from '../arch/mman.js';
import { big, num } from '../shared/constants.js';

interface RingVma { pid: number; ino: bigint; start: bigint; entry: MessageValue }

const found = new WeakMap<FileTable, RingVma[]>();

/** The memory dump found a socket mapping: the socket's dump (packet-sk.ts) gives it its file id. */
export function notePacketRing(table: FileTable, pid: number, v: Vma, entry: MessageValue): void {
  let list = found.get(table);
  if (!list) {
    const all: RingVma[] = [];
    found.set(table, (list = all));
    table.whenTreeDumped(() => {
      const lost = all.find((r) => big(r.entry.shmid) === 0n);
      if (lost) throw new DumpError('UNSUPPORTED', `task ${lost.pid} maps socket:[${lost.ino}] at 0x${lost.start.toString(16)} without a packet socket descriptor of it (closed, another process's, or another kind of socket): cryo cannot dump that`);
    });
  }
  list.push({ pid, ino: v.inode, start: v.start, entry });
}

/** The packet socket `ino` of process `pid` was dumped as file `id`: its ring mappings name it. */
export function claimPacketRings(table: FileTable, pid: number, ino: bigint, id: number): number {
  const mine = (found.get(table) ?? []).filter((r) => r.pid === pid && r.ino === ino);
  for (const r of mine) r.entry.shmid = BigInt(id);
  return mine.length;
}

/** mm.img's mappings of the packet socket with file id `id`. */
export const packetRingsOf = (img: { mm: MessageValue }, id: number): MessageValue[] =>
  ((img.mm.vmas as MessageValue[] | undefined) ?? []).filter((v) => (num(v.status) & VMA.SOCKET) !== 0 && num(v.shmid) === id);

/** Maps the socket's rings in the task where they were (its rings set already). */
export function mapPacketRings(ctx: TaskCtx, fd: number, id: number, why: string): void {
  for (const v of packetRingsOf(ctx.img, id)) {
    const start = big(v.start);
    const len = big(v.end) - start;
    let r: bigint;
    try {
      r = BigInt.asUintN(64, injectMmap(ctx.inj, start, len, num(v.prot), num(v.flags) | MAP_FIXED, fd, big(v.pgoff)));
    } catch (e) {
      throw new RestoreError('FAILED', `cannot map the ring of ${why} at 0x${start.toString(16)} again: ${(e as Error).message}`);
    }
    if (r !== start) throw new RestoreError('FAILED', `the ring of ${why} came back at 0x${r.toString(16)}, not 0x${start.toString(16)}`);
  }
}
