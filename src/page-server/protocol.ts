/**
 * CRIU's page-server protocol (criu/page-xfer.c, 4.2), read for its facts: every message is a
 * struct page_server_iov { u32 cmd; u64 nr_pages; u64 vaddr; u64 dst_id } in the host's byte order
 * with C's alignment (32 bytes on 64-bit hosts), followed for an added present run by its bytes.
 * cmd's low 16 bits are the operation, the high 16 the pagemap flags (PS_IOV_ADD_F). dst_id is the
 * image id shifted left 8 with the pagemap's type in the low byte (1: a task's pagemap-ID.img, 2: pagemap-shmem-ID.img).
 */
import { readU32, readU64, writeU32, writeU64 } from '../sys/native-endian.js';

export const PS_IOV_ADD = 1;
export const PS_IOV_HOLE = 2;
export const PS_IOV_OPEN = 3;
export const PS_IOV_OPEN2 = 4;
export const PS_IOV_PARENT = 5;
export const PS_IOV_ADD_F = 6;
export const PS_IOV_GET = 7;
export const PS_IOV_CLOSE = 0x1023;
export const PS_IOV_FORCE_CLOSE = 0x1024;

export const PS_TYPE_PID = 1;
export const PS_TYPE_SHMEM = 2;

/** sizeof(struct page_server_iov) with u64 aligned to 8. */
export const PSI_SIZE = 32;

export interface Psi { cmd: number; nrPages: bigint; vaddr: bigint; dstId: bigint }

export function encodePsi(p: Psi): Buffer {
  const b = Buffer.alloc(PSI_SIZE);
  writeU32(b, p.cmd, 0);
  writeU64(b, p.nrPages, 8);
  writeU64(b, p.vaddr, 16);
  writeU64(b, p.dstId, 24);
  return b;
}

export function decodePsi(b: Buffer): Psi {
  return { cmd: readU32(b, 0), nrPages: readU64(b, 8), vaddr: readU64(b, 16), dstId: readU64(b, 24) };
}

export const psCmd = (cmd: number) => cmd & 0xffff;
export const psFlags = (cmd: number) => cmd >>> 16;
export const psAddF = (flags: number) => ((flags << 16) | PS_IOV_ADD_F) >>> 0;

export const dstIdOf = (type: number, id: number) => (BigInt(id) << 8n) | BigInt(type);

/** The image a dst_id names; older CRIUs' type numbers as 4.2 still accepts them. */
export function imageOfDstId(dstId: bigint): { type: 'pid' | 'shmem'; id: number } | undefined {
  const t = Number(dstId & 0xffn);
  const id = Number(dstId >> 8n);
  if ([PS_TYPE_PID, 10, 11, 16, 17].includes(t)) return { type: 'pid', id };
  if ([PS_TYPE_SHMEM, 27, 28, 29, 32, 33, 34].includes(t)) return { type: 'shmem', id };
  return undefined;
}
