// The engine behind every architecture's register tables. A table row says
// once where a value lives in a kernel buffer (regset, xsave component,
// sigcontext) and which image field holds it; the two directions
// (buffer -> image value, image value -> buffer) are both derived here, so no
// architecture writes a copy loop twice (DESIGN rule 1).

/** An image value as the image codec carries it: u32 -> number, u64 -> bigint. */
export type ImageWord = 'u32' | 'u64';
/** How wide the value is in the kernel buffer. */
export type RawWord = 'u8' | 'u16' | 'u32' | 'u64';

export interface RegField {
  /** The image field name (CRIU's .proto name). */
  readonly name: string;
  /** Byte offset in the buffer the table describes. */
  readonly offset: number;
  /** The image element type. */
  readonly image: ImageWord;
  /** The element width in the buffer, when it differs from the image's (e.g. fxsave cwd is u16). */
  readonly raw?: RawWord;
  /** Repeated field with this many elements; absent for a scalar. */
  readonly count?: number;
}

export type ImageScalar = number | bigint;
export type ImageFieldValue = ImageScalar | ImageScalar[];
export type ImageRecord = Record<string, unknown>;

const rawBytes: Record<RawWord, number> = { u8: 1, u16: 2, u32: 4, u64: 8 };
const rawMax: Record<RawWord, bigint> = { u8: 0xffn, u16: 0xffffn, u32: 0xffffffffn, u64: (1n << 64n) - 1n };

export function fieldRaw(f: RegField): RawWord {
  return f.raw ?? f.image;
}

/** Bytes the field takes in the buffer. */
export function fieldSize(f: RegField): number {
  return rawBytes[fieldRaw(f)] * (f.count ?? 1);
}

/** The end of the last field: the smallest buffer the table fits in. */
export function tableSize(table: readonly RegField[]): number {
  return Math.max(0, ...table.map((f) => f.offset + fieldSize(f)));
}

/** A DataView over `buf` (its bounds checked as Buffer's are: a RangeError past its end). */
function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** The byte order of an architecture's kernel buffers (Arch.byteOrder). */
export type ByteOrder = 'LE' | 'BE';

function readRaw(buf: Buffer, off: number, raw: RawWord, le: boolean): bigint {
  switch (raw) {
    case 'u8': return BigInt(buf.readUInt8(off));
    case 'u16': return BigInt(le ? buf.readUInt16LE(off) : buf.readUInt16BE(off));
    case 'u32': return BigInt(le ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
    case 'u64': return le ? buf.readBigUInt64LE(off) : buf.readBigUInt64BE(off);
  }
}

function writeRaw(buf: Buffer, off: number, raw: RawWord, v: bigint, le: boolean): void {
  switch (raw) {
    case 'u8': buf.writeUInt8(Number(v), off); break;
    case 'u16': if (le) buf.writeUInt16LE(Number(v), off); else buf.writeUInt16BE(Number(v), off); break;
    case 'u32': if (le) buf.writeUInt32LE(Number(v), off); else buf.writeUInt32BE(Number(v), off); break;
    case 'u64': if (le) buf.writeBigUInt64LE(v, off); else buf.writeBigUInt64BE(v, off); break;
  }
}

function toImage(v: bigint, image: ImageWord): ImageScalar {
  return image === 'u64' ? v : Number(v);
}

function fromImage(v: unknown, f: RegField, what: string): bigint {
  const n = typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : undefined;
  if (n === undefined) throw new Error(`image field ${what} holds ${String(v)}, not an integer: the image is damaged`);
  // Signed values from hand-written JSON are taken as their two's complement.
  const raw = fieldRaw(f);
  const bits = BigInt(rawBytes[raw] * 8);
  const u = n < 0n ? BigInt.asUintN(Number(bits), n) : n;
  if (u > rawMax[raw]) {
    throw new Error(`image field ${what} = ${n} does not fit the ${raw} the kernel keeps it in: the image is damaged`);
  }
  return u;
}

/** A field's name in errors (writeField). */
function nameOf(f: RegField, what: string | undefined, prefix: string): string {
  return what ?? (prefix ? `${prefix}.${f.name}` : f.name);
}

/** The table functions for one byte order; an architecture binds them to its own (Arch.byteOrder). */
export function regtableFor(order: ByteOrder) {
  const le = order === 'LE';
  /** Reads one field of `buf` (at `base`) as its image value. */
  function readField(buf: Buffer, f: RegField, base = 0): ImageFieldValue {
    const raw = fieldRaw(f);
    const step = rawBytes[raw];
    if (f.count === undefined) return readOne(buf, base + f.offset, raw, f.image);
    const out: ImageScalar[] = new Array(f.count);
    // A DataView's own getters: faster than Buffer's (xsave areas hold hundreds of words).
    if (raw === f.image) {
      const dv = viewOf(buf);
      const at = base + f.offset;
      if (raw === 'u64') for (let i = 0; i < f.count; i++) out[i] = dv.getBigUint64(at + i * 8, le);
      else for (let i = 0; i < f.count; i++) out[i] = dv.getUint32(at + i * 4, le);
      return out;
    }
    for (let i = 0; i < f.count; i++) out[i] = readOne(buf, base + f.offset + i * step, raw, f.image);
    return out;
  }

  /** One element; numbers that fit one are read without a BigInt (xsave areas hold thousands). */
  function readOne(buf: Buffer, off: number, raw: RawWord, image: ImageWord): ImageScalar {
    if (image === 'u32' && raw === 'u32') return le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
    return toImage(readRaw(buf, off, raw, le), image);
  }

  /**
   * Writes one image value into `buf` (at `base`). Errors name the field `what`, else
   * `prefix.name`: made only for an error (a thread's xsave state is hundreds of fields).
   */
  function writeField(buf: Buffer, f: RegField, value: unknown, base = 0, what?: string, prefix = ''): void {
    const raw = fieldRaw(f);
    if (f.count === undefined) {
      // The common case without a BigInt made from a BigInt.
      const v = typeof value === 'bigint' && value >= 0n && value <= rawMax[raw] ? value : fromImage(value, f, nameOf(f, what, prefix));
      writeRaw(buf, base + f.offset, raw, v, le);
      return;
    }
    const step = rawBytes[raw];
    if (!Array.isArray(value) || value.length !== f.count) {
      const got = Array.isArray(value) ? `${value.length} elements` : String(value);
      throw new Error(`image field ${nameOf(f, what, prefix)} holds ${got}, expected ${f.count} elements: the image is damaged`);
    }
    const dv = viewOf(buf);
    for (let i = 0; i < f.count; i++) {
      const v: unknown = value[i];
      const off = base + f.offset + i * step;
      // The common cases without a BigInt or a name made per element (xsave areas hold thousands).
      if (raw === 'u32' && typeof v === 'number' && v >= 0 && v <= 0xffffffff && Number.isInteger(v)) {
        dv.setUint32(off, v, le);
      } else if (raw === 'u64' && typeof v === 'bigint' && v >= 0n && v <= rawMax.u64) {
        dv.setBigUint64(off, v, le);
      } else {
        writeRaw(buf, off, raw, fromImage(v, f, `${nameOf(f, what, prefix)}[${i}]`), le);
      }
    }
  }

  /** Buffer -> image record, every field of the table. */
  function decodeTable(table: readonly RegField[], buf: Buffer, base = 0): ImageRecord {
    const out: ImageRecord = {};
    for (const f of table) out[f.name] = readField(buf, f, base);
    return out;
  }

  /** Image record -> buffer, every field of the table (missing fields are an error). */
  function encodeTable(table: readonly RegField[], rec: ImageRecord, buf: Buffer, base = 0, what = ''): void {
    for (const f of table) {
      const v = rec[f.name];
      if (v === undefined) throw new Error(`image field ${what ? `${what}.${f.name}` : f.name} is missing: the image is damaged`);
      writeField(buf, f, v, base, undefined, what);
    }
  }

  return { readField, writeField, decodeTable, encodeTable };
}
