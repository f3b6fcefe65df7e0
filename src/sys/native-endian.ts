/** Kernel structs are in the host's byte order (big-endian on s390x and ppc64 BE): read/write them so. */
import { endianness } from 'node:os';

export const HOST_LITTLE_ENDIAN = endianness() === 'LE';

export function readU64(b: Buffer, off: number): bigint {
  return HOST_LITTLE_ENDIAN ? b.readBigUInt64LE(off) : b.readBigUInt64BE(off);
}
export function writeU64(b: Buffer, v: bigint, off: number): void {
  if (HOST_LITTLE_ENDIAN) b.writeBigUInt64LE(BigInt.asUintN(64, v), off); else b.writeBigUInt64BE(BigInt.asUintN(64, v), off);
}
export function readU32(b: Buffer, off: number): number {
  return HOST_LITTLE_ENDIAN ? b.readUInt32LE(off) : b.readUInt32BE(off);
}
export function readI32(b: Buffer, off: number): number {
  return HOST_LITTLE_ENDIAN ? b.readInt32LE(off) : b.readInt32BE(off);
}
export function writeU32(b: Buffer, v: number, off: number): void {
  if (HOST_LITTLE_ENDIAN) b.writeUInt32LE(v >>> 0, off); else b.writeUInt32BE(v >>> 0, off);
}
export function writeI32(b: Buffer, v: number, off: number): void {
  if (HOST_LITTLE_ENDIAN) b.writeInt32LE(v, off); else b.writeInt32BE(v, off);
}
export function readU16(b: Buffer, off: number): number {
  return HOST_LITTLE_ENDIAN ? b.readUInt16LE(off) : b.readUInt16BE(off);
}
export function writeU16(b: Buffer, v: number, off: number): void {
  if (HOST_LITTLE_ENDIAN) b.writeUInt16LE(v & 0xffff, off); else b.writeUInt16BE(v & 0xffff, off);
}
export function writeI16(b: Buffer, v: number, off: number): void {
  if (HOST_LITTLE_ENDIAN) b.writeInt16LE(v, off); else b.writeInt16BE(v, off);
}
export function readI64(b: Buffer, off: number): bigint {
  return HOST_LITTLE_ENDIAN ? b.readBigInt64LE(off) : b.readBigInt64BE(off);
}
export function writeI64(b: Buffer, v: bigint, off: number): void {
  if (HOST_LITTLE_ENDIAN) b.writeBigInt64LE(BigInt.asIntN(64, v), off); else b.writeBigInt64BE(BigInt.asIntN(64, v), off);
}
/** A u64 from a number (0 <= v <= 2^53 - 1), as two 32-bit halves: no bigint made. */
function writeU64Number(b: Buffer, v: number, off: number): void {
  const lo = v % 0x100000000;
  const hi = (v - lo) / 0x100000000;
  if (HOST_LITTLE_ENDIAN) {
    b.writeUInt32LE(lo, off);
    b.writeUInt32LE(hi, off + 4);
  } else {
    b.writeUInt32BE(hi, off);
    b.writeUInt32BE(lo, off + 4);
  }
}
/** A struct iovec {void *base; size_t len} for a 64-bit host (a dump of a sparse task writes 100,000). */
export function iovecBytes(base: bigint, len: number, into: Buffer = Buffer.alloc(16), off = 0): Buffer {
  const b = Number(base);
  if (b >= 0 && b <= Number.MAX_SAFE_INTEGER) writeU64Number(into, b, off);
  else writeU64(into, base, off);
  writeU64Number(into, len, off + 8);
  return into;
}
