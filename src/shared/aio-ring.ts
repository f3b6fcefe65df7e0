// The ring io_setup(2) maps for a libaio context (struct aio_ring, fs/aio.c): a 32-byte header of
// u32 fields in host order, then io_event slots of 32 bytes. The context id is the ring's address.
import { readU32 } from '../sys/native-endian.js';

export const AIO_RING_MAGIC = 0xa10a10a1;
export const AIO_HEADER_BYTES = 32;
export const AIO_EVENT_BYTES = 32;
/** Byte offsets of the header's fields. */
export const AIO_HEAD = 8;

export interface AioHeader { id: number; nr: number; head: number; tail: number; magic: number; headerLength: number }

export function readAioHeader(b: Buffer): AioHeader {
  return { id: readU32(b, 0), nr: readU32(b, 4), head: readU32(b, 8), tail: readU32(b, 12), magic: readU32(b, 16), headerLength: readU32(b, 28) };
}

/** The events a ring of `len` bytes holds (the kernel fills whole pages with slots). */
export function aioSlots(len: bigint): number {
  return Number((len - BigInt(AIO_HEADER_BYTES)) / BigInt(AIO_EVENT_BYTES));
}

/**
 * The io_setup() argument that makes a ring of `slots` events again: the kernel doubles the
 * request (at least 4 per CPU) and adds 2 before rounding up to pages, as CRIU estimates it.
 */
export function aioRequestFor(slots: number): number {
  return Math.floor((slots - 2) / 2);
}

/** What is wrong with a ring header (undefined: it is sane), for a one-line error. */
export function aioHeaderProblem(h: AioHeader, len: bigint): string | undefined {
  if (h.magic !== AIO_RING_MAGIC) return `its magic is 0x${(h.magic >>> 0).toString(16)}, not 0x${AIO_RING_MAGIC.toString(16)}`;
  if (h.headerLength !== AIO_HEADER_BYTES) return `its header is ${h.headerLength} bytes, not ${AIO_HEADER_BYTES}`;
  if (h.nr !== aioSlots(len)) return `it says ${h.nr} events, its ${len} bytes hold ${aioSlots(len)}`;
  if (h.head >= h.nr || h.tail >= h.nr) return `its head ${h.head} or tail ${h.tail} is past its ${h.nr} events`;
  return undefined;
}
