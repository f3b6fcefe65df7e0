// proto2 wire codec driven by cryo's MessageDef descriptions. The encoder
// writes exactly what protobuf-c writes (field-number order, packed only where
// the schema says so, negative int32/enum as 10-byte varints), so a decoded
// image encodes back to the same bytes.

import { ImageJsonError } from './errors.js';
import { Reader } from './wire-reader.js';
import { type EnumDef, type FieldDef, type MessageDef, type ScalarType, isEnumType, isMessageType } from './schema.js';
import type { FieldValue, MessageValue } from './value.js';

/** protobuf's own default recursion limit. */
const MAX_DEPTH = 100;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

const fieldMaps = new WeakMap<MessageDef, Map<number, FieldDef>>();
function fieldsByNumber(def: MessageDef): Map<number, FieldDef> {
  let m = fieldMaps.get(def);
  if (!m) {
    m = new Map(def.fields.map((f) => [f.no, f]));
    fieldMaps.set(def, m);
  }
  return m;
}

/** The wire type a scalar is written with (unpacked). */
function wireTypeOf(f: FieldDef): number {
  if (isMessageType(f.type)) return WIRE_LEN;
  if (isEnumType(f.type)) return WIRE_VARINT;
  switch (f.type) {
    case 'fixed64': case 'sfixed64': case 'double': return WIRE_I64;
    case 'fixed32': case 'sfixed32': case 'float': return WIRE_I32;
    case 'string': case 'bytes': return WIRE_LEN;
    default: return WIRE_VARINT;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function u64(lo: number, hi: number): bigint {
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

const enumNameMaps = new WeakMap<EnumDef, Map<number, string>>();
/** An enum's names by value (the first name of a value, as the schema lists them). */
function enumNames(t: EnumDef): Map<number, string> {
  let m = enumNameMaps.get(t);
  if (!m) {
    m = new Map();
    for (const [name, v] of Object.entries(t.values)) if (!m.has(v)) m.set(v, name);
    enumNameMaps.set(t, m);
  }
  return m;
}

function decodeScalar(r: Reader, type: ScalarType, wire: number, f: FieldDef): FieldValue {
  switch (type) {
    case 'int32': return r.varint() | 0;
    case 'uint32': return r.varint() >>> 0;
    case 'sint32': { const lo = r.varint(); return (lo >>> 1) ^ -(lo & 1); }
    case 'int64': { const lo = r.varint(); return BigInt.asIntN(64, u64(lo, r.hi)); }
    case 'uint64': { const lo = r.varint(); return u64(lo, r.hi); }
    case 'sint64': {
      const lo = r.varint();
      const v = u64(lo, r.hi);
      return BigInt.asIntN(64, (v >> 1n) ^ -(v & 1n));
    }
    case 'bool': { const lo = r.varint(); return (lo | r.hi) !== 0; }
    case 'fixed32': return r.buf.readUInt32LE(r.fixed(4, f.name));
    case 'sfixed32': return r.buf.readInt32LE(r.fixed(4, f.name));
    case 'float': return r.buf.readFloatLE(r.fixed(4, f.name));
    case 'fixed64': return r.buf.readBigUInt64LE(r.fixed(8, f.name));
    case 'sfixed64': return r.buf.readBigInt64LE(r.fixed(8, f.name));
    case 'double': return r.buf.readDoubleLE(r.fixed(8, f.name));
    case 'string': {
      const n = r.length(`string field ${f.name}`);
      const at = r.pos;
      r.pos += n;
      try {
        return utf8.decode(r.buf.subarray(at, at + n));
      } catch {
        return r.fail(`valid UTF-8 in string field ${f.name}`, at);
      }
    }
    case 'bytes': {
      const n = r.length(`bytes field ${f.name}`);
      const at = r.pos;
      r.pos += n;
      const out = Buffer.allocUnsafe(n); // a copy: Buffer.from(a view) is 8 times slower
      r.buf.copy(out, 0, at, at + n);
      return out;
    }
  }
  void wire;
  return r.fail(`a known scalar type for ${f.name}`);
}

function decodeOne(r: Reader, f: FieldDef, wire: number, depth: number): FieldValue {
  const t = f.type;
  if (isMessageType(t)) {
    const n = r.length(`message field ${f.name}`);
    const start = r.pos;
    r.pos += n;
    return decodeRange(r, t(), start, start + n, depth + 1);
  }
  if (isEnumType(t)) {
    const at = r.pos;
    const num = r.varint() | 0;
    const name = enumNames(t).get(num);
    if (name !== undefined) return name;
    return r.fail(`a value of enum ${t.name} for ${f.name}, not ${num}`, at);
  }
  return decodeScalar(r, t, wire, f);
}

function isPackable(f: FieldDef): boolean {
  return !isMessageType(f.type) && f.type !== 'string' && f.type !== 'bytes';
}

function skipField(r: Reader, wire: number, tagAt: number): void {
  switch (wire) {
    case WIRE_VARINT: r.varint(); return;
    case WIRE_I64: r.fixed(8, 'an unknown field'); return;
    case WIRE_I32: r.fixed(4, 'an unknown field'); return;
    case WIRE_LEN: { const n = r.length('an unknown field'); r.pos += n; return; }
    default: r.fail(`a wire type 0, 1, 2 or 5, not ${wire}`, tagAt);
  }
}

/** A field as decoding needs it, worked out once per message type. */
interface FieldPlan {
  f: FieldDef;
  /** Its place in def.fields (values are kept in that order). */
  index: number;
  want: number;
  repeated: boolean;
  packable: boolean;
  /** An unsigned integer type read by decodeVarintRun where unpacked. */
  varintRun?: 'uint32' | 'uint64';
}

const plans = new WeakMap<MessageDef, Map<number, FieldPlan>>();
function planOf(def: MessageDef): Map<number, FieldPlan> {
  let m = plans.get(def);
  if (!m) {
    m = new Map([...fieldsByNumber(def).values()].map((f) => [f.no, {
      f, index: def.fields.indexOf(f), want: wireTypeOf(f), repeated: f.label === 'repeated', packable: isPackable(f),
      varintRun: f.type === 'uint32' || f.type === 'uint64' ? f.type : undefined,
    }]));
    plans.set(def, m);
  }
  return m;
}

/** A packed field's values onto `list`: the common integer types in a loop of their own (a manifest packs 100,000s). */
function decodePacked(r: Reader, p: FieldPlan, list: FieldValue[], depth: number): void {
  switch (p.f.type) {
    case 'uint32': while (r.pos < r.end) list.push(r.varint() >>> 0); return;
    case 'uint64': while (r.pos < r.end) { const lo = r.varint(); list.push(u64(lo, r.hi)); } return;
    default: while (r.pos < r.end) list.push(decodeOne(r, p.f, p.want, depth));
  }
}

/**
 * An unpacked repeated integer's elements, which protobuf-c writes one after another: read in one
 * loop while the next byte is the same one-byte tag (a thread's core holds some 360 of them).
 */
function decodeVarintRun(r: Reader, tag: number, type: 'uint32' | 'uint64', list: FieldValue[]): void {
  for (;;) {
    const lo = r.varint();
    list.push(type === 'uint32' ? lo >>> 0 : u64(lo, r.hi));
    if (tag > 0x7f || r.pos >= r.end || r.buf[r.pos] !== tag) return;
    r.pos++;
  }
}

function decodeRange(outer: Reader, def: MessageDef, start: number, end: number, depth: number): MessageValue {
  if (depth > MAX_DEPTH) outer.fail(`message nesting of at most ${MAX_DEPTH} levels`, start);
  const r = new Reader(outer.buf, start, end, outer.file, outer.base);
  const byNo = planOf(def);
  const found: (FieldValue | undefined)[] = new Array(def.fields.length);
  while (r.pos < r.end) {
    const tagAt = r.pos;
    const tag = r.varint();
    const tagHi = r.hi;
    const no = tag >>> 3;
    const wire = tag & 7;
    if (tagHi !== 0 || no === 0) r.fail('a field tag with a field number from 1 to 2^29-1', tagAt);
    const p = byNo.get(no);
    if (!p) {
      skipField(r, wire, tagAt);
      continue;
    }
    const { f, want } = p;
    if (p.repeated) {
      let list = found[p.index] as FieldValue[] | undefined;
      if (!list) found[p.index] = list = [];
      if (wire === WIRE_LEN && p.packable) {
        const n = r.length(`packed field ${def.name}.${f.name}`);
        const sub = new Reader(r.buf, r.pos, r.pos + n, r.file, r.base);
        r.pos += n;
        decodePacked(sub, p, list, depth);
        continue;
      }
      if (wire !== want) r.fail(`wire type ${want} for ${def.name}.${f.name}, not ${wire}`, tagAt);
      if (p.varintRun !== undefined) decodeVarintRun(r, tag, p.varintRun, list);
      else list.push(decodeOne(r, f, wire, depth));
    } else {
      if (wire !== want) r.fail(`wire type ${want} for ${def.name}.${f.name}, not ${wire}`, tagAt);
      found[p.index] = decodeOne(r, f, wire, depth);
    }
  }
  const out: MessageValue = {};
  const fields = def.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const v = found[i];
    if (v === undefined) {
      if (f.label === 'required') r.fail(`required field ${def.name}.${f.name} before the end of the message`, end);
      continue;
    }
    if (Array.isArray(v) && v.length === 0) continue;
    out[f.name] = v;
  }
  return out;
}

/**
 * Decode one protobuf message. `file` and `base` (the message's offset in
 * that file) only serve error messages.
 */
export function decode(buf: Buffer, def: MessageDef, file = '<buffer>', base = 0): MessageValue {
  const r = new Reader(buf, 0, buf.length, file, base);
  return decodeRange(r, def, 0, buf.length, 0);
}

// ---------------------------------------------------------------- encoding

/** Appends protobuf wire bytes (a fast encoder writes through it: fastEncoder). */
export class Writer {
  buf = Buffer.allocUnsafe(256);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const nb = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(nb, 0, 0, this.len);
    this.buf = nb;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  /** Unsigned 32-bit value, or a negative one sign-extended to 64 bits. */
  varint32(v: number): void {
    if (v < 0) {
      this.varint64(BigInt.asUintN(64, BigInt(v)));
      return;
    }
    this.ensure(5);
    while (v > 0x7f) {
      this.buf[this.len++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.len++] = v;
  }
  /** A non-negative integer up to 2^53 (most 64-bit values: addresses, sizes) without BigInt. */
  varintSafe(v: number): void {
    this.ensure(8);
    while (v > 0x7f) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }
  varint64(v: bigint): void {
    v = BigInt.asUintN(64, v);
    if (v <= MAX_SAFE) return this.varintSafe(Number(v));
    this.ensure(10);
    while (v > 0x7fn) {
      this.buf[this.len++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.len++] = Number(v);
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * One writer, reused by every encode() (encoding is synchronous): a nested message or packed field
 * is written in place after a one-byte length, moved up only when it turns out 128 bytes or longer
 * (mm.img's 10,000 VMAs are each a short message: no copy of each, no buffer made for each).
 */
const writer = new Writer();

/** Bytes of `n` as a varint (n < 2^32). */
const varintSize = (n: number): number => (n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5);

/** Makes room at `at` for the length of what follows it in `w` (one byte was left there) and writes it. */
function putLength(w: Writer, at: number): void {
  const n = w.len - at - 1;
  if (n < 0x80) {
    w.buf[at] = n;
    return;
  }
  const extra = varintSize(n) - 1;
  w.ensure(extra);
  w.buf.copyWithin(at + 1 + extra, at + 1, w.len);
  const end = w.len + extra;
  w.len = at;
  w.varint32(n);
  w.len = end;
}

/**
 * Where a value is, for errors only: the message's path (a parent field's place, made into a
 * string only when an error is thrown), its field, an index (-1: not repeated).
 */
interface At { path: Path; f: FieldDef; i: number }
type Path = string | At;
const pathOf = (at: At): string => `${typeof at.path === 'string' ? at.path : pathOf(at.path)}.${at.f.name}${at.i >= 0 ? `[${at.i}]` : ''}`;
const pathText = (p: Path): string => (typeof p === 'string' ? p : pathOf(p));

function bad(at: Path, problem: string): never {
  throw new ImageJsonError('<value>', pathText(at), problem);
}

const RANGE = {
  32: [-(1n << 31n), (1n << 32n) - 1n],
  64: [-(1n << 63n), (1n << 64n) - 1n],
} as const;

/** An integer value as a bigint, in the range of `bits` (either signedness, as protobuf's setters wrap). */
function asInt(v: FieldValue, path: Path, f: FieldDef, i: number, bits: 32 | 64, signed: boolean): bigint {
  let b: bigint;
  if (typeof v === 'bigint') b = v;
  else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
  else if (typeof v === 'boolean') b = v ? 1n : 0n;
  else return bad({ path, f, i }, `expected an integer, got ${typeof v}`);
  if (b < RANGE[bits][0] || b > RANGE[bits][1]) bad({ path, f, i }, `${b} does not fit in ${signed ? 'int' : 'uint'}${bits}`);
  return b;
}

/** A 32-bit integer value wrapped to its unsigned bits (the common case, a number in range, without BigInt). */
function asU32(v: FieldValue, path: Path, f: FieldDef, i: number, signed: boolean): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff) return v >>> 0;
  return Number(BigInt.asUintN(32, asInt(v, path, f, i, 32, signed)));
}

/** `path`, `f` and `i` name the value only for an error (no object made per value). */
function encodeScalar(w: Writer, type: ScalarType, v: FieldValue, path: Path, f: FieldDef, i: number): void {
  switch (type) {
    case 'int32': w.varint32(asU32(v, path, f, i, true) | 0); return;
    case 'uint32': w.varint32(asU32(v, path, f, i, false)); return;
    case 'sint32': {
      const n = asU32(v, path, f, i, true) | 0;
      w.varint32(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case 'int64': case 'uint64':
      if (typeof v === 'bigint' && v >= 0n && v <= MAX_SAFE) w.varintSafe(Number(v));
      else if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) w.varintSafe(v);
      else w.varint64(asInt(v, path, f, i, 64, type === 'int64'));
      return;
    case 'sint64': {
      // A small value (VMAs' fd -1, offsets) zigzagged without BigInt arithmetic.
      if (typeof v === 'bigint' && v >= -0x10000000000000n && v < 0x10000000000000n) {
        const n = Number(v);
        w.varintSafe(n >= 0 ? 2 * n : -2 * n - 1);
        return;
      }
      const n = BigInt.asIntN(64, asInt(v, path, f, i, 64, true));
      w.varint64((n << 1n) ^ (n >> 63n));
      return;
    }
    case 'bool':
      if (typeof v !== 'boolean') bad({ path, f, i }, 'expected a boolean');
      w.byte(v ? 1 : 0);
      return;
    case 'fixed32': case 'sfixed32': {
      w.ensure(4);
      w.buf.writeUInt32LE(asU32(v, path, f, i, type === 'sfixed32'), w.len);
      w.len += 4;
      return;
    }
    case 'fixed64': case 'sfixed64': {
      w.ensure(8);
      w.buf.writeBigUInt64LE(BigInt.asUintN(64, asInt(v, path, f, i, 64, type === 'sfixed64')), w.len);
      w.len += 8;
      return;
    }
    case 'float': case 'double': {
      if (typeof v !== 'number') bad({ path, f, i }, 'expected a number');
      const n = type === 'float' ? 4 : 8;
      w.ensure(n);
      if (n === 4) w.buf.writeFloatLE(v, w.len);
      else w.buf.writeDoubleLE(v, w.len);
      w.len += n;
      return;
    }
    case 'string': {
      if (typeof v !== 'string') bad({ path, f, i }, 'expected a string');
      const n = Buffer.byteLength(v, 'utf8');
      w.varint32(n);
      w.ensure(n);
      w.len += w.buf.write(v, w.len, 'utf8');
      return;
    }
    case 'bytes': {
      if (!(v instanceof Uint8Array)) bad({ path, f, i }, 'expected a Buffer');
      w.varint32(v.length);
      w.bytes(v);
      return;
    }
  }
}

function encodeOne(w: Writer, f: FieldDef, v: FieldValue, path: Path, i: number, depth: number): void {
  const t = f.type;
  if (isMessageType(t)) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) {
      bad({ path, f, i }, 'expected an object');
    }
    const at = w.len;
    w.byte(0); // the length's first byte (putLength)
    encodeFields(w, v as MessageValue, t(), { path, f, i }, depth + 1);
    putLength(w, at);
    return;
  }
  if (isEnumType(t)) {
    const num = typeof v === 'string' ? t.values[v] : undefined;
    if (num === undefined) bad({ path, f, i }, `expected a name from enum ${t.name}, got ${String(v)}`);
    w.varint32(num);
    return;
  }
  encodeScalar(w, t, v, path, f, i);
}

/** A uint64 value as a number when it is one in [0, 2^53) (a bigint or a number); else -1: the generic path takes it. */
export function safeU64(v: FieldValue | undefined): number {
  if (typeof v === 'bigint') return v >= 0n && v <= MAX_SAFE ? Number(v) : -1;
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : -1;
}

/** A uint32 value's bits as asU32 takes them from a number; -1 for anything else. */
export function safeU32(v: FieldValue | undefined): number {
  return typeof v === 'number' && Number.isInteger(v) && v >= -0x80000000 && v <= 0xffffffff ? v >>> 0 : -1;
}

/** A sint64 value zigzagged, when it is a bigint or number in (-2^52, 2^52); else -1. */
export function safeZigzag(v: FieldValue | undefined): number {
  const n = typeof v === 'bigint' ? (v > -0x10000000000000n && v < 0x10000000000000n ? Number(v) : NaN) : typeof v === 'number' && Number.isSafeInteger(v) ? v : NaN;
  return n >= 0 && n < 0x10000000000000 ? 2 * n : n < 0 && n > -0x10000000000000 ? -2 * n - 1 : -1;
}

/** Messages written by a function of their own where a value fits it (see fastEncoder). */
const FAST_ENCODERS = new Map<MessageDef, (w: Writer, v: MessageValue) => boolean>();

/**
 * Has `def`'s messages written by `encode` where it takes the value (it returns false, with nothing
 * written, for one it does not: the generic path then writes it or names the fault). It must write
 * the generic path's bytes. The schema module that defines `def` registers it: `def` comes with it.
 */
export function fastEncoder(def: MessageDef, encode: (w: Writer, v: MessageValue) => boolean): MessageDef {
  FAST_ENCODERS.set(def, encode);
  return def;
}

/** A message's fields, appended to `w`. */
function encodeFields(w: Writer, value: MessageValue, def: MessageDef, path: Path, depth: number): void {
  if (depth > MAX_DEPTH) bad(path, `nesting deeper than ${MAX_DEPTH} levels`);
  const fast = FAST_ENCODERS.get(def);
  if (fast !== undefined && fast(w, value)) return;
  const plan = encodePlanOf(def);
  for (let k = 0; k < plan.length; k++) {
    const { f, tag, packed } = plan[k]!;
    const v = value[f.name];
    if (v === undefined) {
      if (f.label === 'required') bad(`${pathText(path)}.${f.name}`, `required field of ${def.name} is missing`);
      continue;
    }
    if (f.label === 'repeated') {
      if (!Array.isArray(v)) bad(`${pathText(path)}.${f.name}`, 'expected an array');
      if (v.length === 0) continue;
      if (packed) {
        w.varint32(tag);
        const at = w.len;
        w.byte(0); // the length's first byte (putLength)
        for (let i = 0; i < v.length; i++) encodeOne(w, f, v[i]!, path, i, depth);
        putLength(w, at);
      } else {
        for (let i = 0; i < v.length; i++) {
          w.varint32(tag);
          encodeOne(w, f, v[i]!, path, i, depth);
        }
      }
    } else {
      w.varint32(tag);
      encodeOne(w, f, v, path, -1, depth);
    }
  }
}

/** A field as encoding needs it, worked out once per message type. */
interface EncodeField { f: FieldDef; tag: number; packed: boolean }
const encodePlans = new WeakMap<MessageDef, EncodeField[]>();
function encodePlanOf(def: MessageDef): EncodeField[] {
  let p = encodePlans.get(def);
  if (!p) {
    p = def.fields.map((f) => {
      const packed = f.label === 'repeated' && f.opts.packed === true && isPackable(f);
      return { f, packed, tag: ((f.no << 3) | (packed ? WIRE_LEN : wireTypeOf(f))) >>> 0 };
    });
    encodePlans.set(def, p);
  }
  return p;
}

/** Encode one message the way protobuf-c does. Throws ImageJsonError on a value that does not fit the schema. */
export function encode(value: MessageValue, def: MessageDef): Buffer {
  const w = writer;
  w.len = 0;
  encodeFields(w, value, def, def.name, 0);
  const out = Buffer.allocUnsafe(w.len);
  w.buf.copy(out, 0, 0, w.len);
  return out;
}
