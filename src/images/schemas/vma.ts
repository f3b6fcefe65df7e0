// vma.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';
import type { MessageValue } from '../value.js';
import { fastEncoder, safeU32, safeU64, safeZigzag, type Writer } from '../wire.js';

export const vma_entry = fastEncoder(message('vma_entry', [
  req(1, 'start', 'uint64', { hex: true }),
  req(2, 'end', 'uint64', { hex: true }),
  req(3, 'pgoff', 'uint64'),
  req(4, 'shmid', 'uint64'),
  req(5, 'prot', 'uint32', { flags: 'mmap.prot' }),
  req(6, 'flags', 'uint32', { flags: 'mmap.flags' }),
  req(7, 'status', 'uint32', { flags: 'mmap.status' }),
  req(8, 'fd', 'sint64'),
  opt(9, 'madv', 'uint64', { hex: true }),
  opt(10, 'fdflags', 'uint32', { hex: true }),
]), encodeVmaEntry);

/**
 * vma_entry written field by field with its properties read by name (mm.img of 20,000 VMAs: the
 * generic loop's keyed reads and type tests were ~25 ms of a dump), the bytes the generic path
 * writes. False, with nothing written, for a value it does not take (a missing field, a value out
 * of its range): the generic path then writes it or names the fault.
 */
function encodeVmaEntry(w: Writer, v: MessageValue): boolean {
  const start = safeU64(v.start), end = safeU64(v.end), pgoff = safeU64(v.pgoff), shmid = safeU64(v.shmid);
  const prot = safeU32(v.prot), flags = safeU32(v.flags), status = safeU32(v.status), fd = safeZigzag(v.fd);
  const madv = v.madv === undefined ? -2 : safeU64(v.madv);
  const fdflags = v.fdflags === undefined ? -2 : safeU32(v.fdflags);
  if (start < 0 || end < 0 || pgoff < 0 || shmid < 0 || prot < 0 || flags < 0 || status < 0 || fd < 0 || madv === -1 || fdflags === -1) return false;
  w.byte(0x08); w.varintSafe(start);
  w.byte(0x10); w.varintSafe(end);
  w.byte(0x18); w.varintSafe(pgoff);
  w.byte(0x20); w.varintSafe(shmid);
  w.byte(0x28); w.varint32(prot);
  w.byte(0x30); w.varint32(flags);
  w.byte(0x38); w.varint32(status);
  w.byte(0x40); w.varintSafe(fd);
  if (madv >= 0) { w.byte(0x48); w.varintSafe(madv); }
  if (fdflags >= 0) { w.byte(0x50); w.varint32(fdflags); }
  return true;
}
