// Byte sources and sinks for image framing: the same entry reader/writer
// works on an in-memory buffer and on a file read in bounded chunks.

import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { ImageError } from './errors.js';
import { writeU32 } from '../sys/native-endian.js';
import { faultPoint } from '../fault.js';

/** The byte order of an image's framing (magics, entry sizes): CRIU writes the dumping machine's. */
export type ImageByteOrder = 'LE' | 'BE';
export const HOST_BYTE_ORDER: ImageByteOrder = endianness();

export function readU32In(b: Buffer, off: number, order: ImageByteOrder): number {
  return order === 'LE' ? b.readUInt32LE(off) : b.readUInt32BE(off);
}
export function readI32In(b: Buffer, off: number, order: ImageByteOrder): number {
  return order === 'LE' ? b.readInt32LE(off) : b.readInt32BE(off);
}
export function readU16In(b: Buffer, off: number, order: ImageByteOrder): number {
  return order === 'LE' ? b.readUInt16LE(off) : b.readUInt16BE(off);
}

export interface ByteSource {
  readonly file: string;
  /** Offset of the next byte in the file. */
  readonly pos: number;
  /** True when no byte is left. */
  atEnd(): boolean;
  /** Exactly n bytes, or an ImageError saying what was expected. */
  take(n: number, what: string): Buffer;
  /** Every byte up to the end. */
  rest(): Buffer;
  /** The order of the framing's numbers: the host's until readHead finds the magic in the other one. */
  byteOrder: ImageByteOrder;
}

export interface ByteSink {
  write(b: Uint8Array): void;
}

export class BufferSource implements ByteSource {
  pos = 0;
  byteOrder = HOST_BYTE_ORDER;
  constructor(private readonly buf: Buffer, readonly file = '<buffer>') {}
  atEnd(): boolean {
    return this.pos >= this.buf.length;
  }
  take(n: number, what: string): Buffer {
    if (n > this.buf.length - this.pos) {
      throw new ImageError(this.file, this.pos, `${what} (${n} bytes), but only ${this.buf.length - this.pos} are left`);
    }
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  rest(): Buffer {
    return this.take(this.buf.length - this.pos, 'the rest');
  }
}

const CHUNK = 1 << 16;

/** Reads a file through a small window; a single take() is bounded by the entry's size, not the file's. */
export class FileSource implements ByteSource {
  pos = 0;
  byteOrder = HOST_BYTE_ORDER;
  private readonly fd: number;
  private readonly size: number;
  private win = Buffer.alloc(0);
  private winPos = 0;

  constructor(readonly file: string) {
    faultPoint(`read ${file}`);
    this.fd = openSync(file, 'r');
    this.size = fstatSync(this.fd).size;
  }
  close(): void {
    closeSync(this.fd);
  }
  atEnd(): boolean {
    return this.pos >= this.size;
  }
  take(n: number, what: string): Buffer {
    if (n > this.size - this.pos) {
      throw new ImageError(this.file, this.pos, `${what} (${n} bytes), but only ${this.size - this.pos} are left`);
    }
    const avail = this.win.length - this.winPos;
    if (n <= avail) {
      const b = this.win.subarray(this.winPos, this.winPos + n);
      this.winPos += n;
      this.pos += n;
      return b;
    }
    const out = Buffer.allocUnsafe(n);
    this.win.copy(out, 0, this.winPos);
    let got = avail;
    if (n - got >= CHUNK) {
      while (got < n) got += readSync(this.fd, out, got, n - got, this.pos + got);
      this.win = Buffer.alloc(0);
      this.winPos = 0;
    } else {
      this.win = Buffer.allocUnsafe(CHUNK);
      const len = readSync(this.fd, this.win, 0, CHUNK, this.pos + got);
      this.win = this.win.subarray(0, len);
      this.win.copy(out, got, 0, n - got);
      this.winPos = n - got;
    }
    this.pos += n;
    return out;
  }
  rest(): Buffer {
    return this.take(this.size - this.pos, 'the rest');
  }
}

export class BufferSink implements ByteSink {
  private readonly parts: Buffer[] = [];
  write(b: Uint8Array): void {
    this.parts.push(Buffer.from(b));
  }
  result(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export class FdSink implements ByteSink {
  constructor(readonly fd: number) {}
  write(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
  }
}

/** A 4-byte word in host order (CRIU writes image magics and entry sizes so). */
export function u32host(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  writeU32(b, v >>> 0, 0);
  return b;
}
