// CRIU image framing: head magic(s), then u32-length-prefixed protobuf
// entries with their extra payloads, in the layout the registry gives each
// image kind. Works on buffers and on files (streamed, bounded memory).

import { close, closeSync, constants as fsc, fchmod, fchmodSync, mkdirSync, open, openSync, unlinkSync, write, writeSync } from 'node:fs';
import path from 'node:path';
import { ImageError, ImageJsonError } from './errors.js';
import type { ExtraValue } from './extras.js';
import {
  type ByteSink, type ByteSource, type ImageByteOrder, BufferSink, BufferSource, FileSource, readI32In, readU32In, u32host,
} from './io.js';
import { type JsonObject, type JsonValue, pyJsonDumps } from './json-text.js';
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, headMagicFor, magicName, magicValue } from './magics.js';
import { type ImageKind, imageKind } from './registry.js';
import type { MessageDef } from './schema.js';
import { messageFromCrit, messageToCrit } from './crit-json.js';
import { decodeBytesPy, encodeBytesPy } from './pybytes.js';
import type { MessageValue } from './value.js';
import { decode, encode } from './wire.js';
import { faultPoint } from '../fault.js';

export interface ImageEntry {
  readonly def: MessageDef;
  readonly value: MessageValue;
  readonly extra?: ExtraValue;
}

export interface Image {
  /** crit's magic name, e.g. 'CORE', 'PAGEMAP'. */
  readonly magic: string;
  readonly entries: ImageEntry[];
  /** Decoded images: the byte order their framing was written in (the dumping machine's). */
  readonly byteOrder?: ImageByteOrder;
}

const hex = (v: number): string => '0x' + (v >>> 0).toString(16);

const isFramingMagic = (v: number) => v === IMG_COMMON_MAGIC || v === IMG_SERVICE_MAGIC || magicName(v) !== undefined;

/**
 * Read the head magic(s) and find the image's kind. The first magic also tells the byte order the
 * image was written in (CRIU writes the dumping machine's): `src.byteOrder` is set from it, so an
 * s390x dump decodes on x86_64 and the other way round.
 */
export function readHead(src: ByteSource): ImageKind {
  const head = src.take(4, 'a 4-byte image magic');
  const other: ImageByteOrder = src.byteOrder === 'LE' ? 'BE' : 'LE';
  if (!isFramingMagic(readU32In(head, 0, src.byteOrder)) && isFramingMagic(readU32In(head, 0, other))) src.byteOrder = other;
  const first = readU32In(head, 0, src.byteOrder);
  let at = 0;
  let value = first;
  if (first === IMG_COMMON_MAGIC || first === IMG_SERVICE_MAGIC) {
    at = 4;
    value = readU32In(src.take(4, 'the image magic after the head magic'), 0, src.byteOrder);
  }
  const name = magicName(value);
  if (name === undefined) {
    throw new ImageError(src.file, at, `a CRIU image magic, found ${hex(value)}: not a CRIU image (raw images such as pages-*.img have no magic)`);
  }
  const kind = imageKind(name);
  if (!kind) throw new ImageError(src.file, at, `the magic of an image cryo can decode, found ${name} (${hex(value)})`);
  return kind;
}

/** One u32-size-prefixed message, or undefined at the end of the file. */
function readMessage(src: ByteSource, def: MessageDef): MessageValue | undefined {
  if (src.atEnd()) return undefined;
  const sizeAt = src.pos;
  const size = readI32In(src.take(4, 'a 4-byte entry size'), 0, src.byteOrder);
  if (size < 0) throw new ImageError(src.file, sizeAt, `an entry size, found ${size}`);
  const at = src.pos;
  return decode(src.take(size, `a ${def.name} of the size given at byte ${sizeAt}`), def, src.file, at);
}

function num(v: MessageValue, field: string): number {
  const x = v[field];
  return typeof x === 'bigint' ? Number(x) : typeof x === 'number' ? x : 0;
}

/** Every entry after the head, in file order. */
export function* readEntries(src: ByteSource, kind: ImageKind): Generator<ImageEntry> {
  if (kind.layout === 'ghost-file') {
    const head = readMessage(src, kind.payload);
    if (!head) throw new ImageError(src.file, src.pos, `a ${kind.payload.name}`);
    if (!head.chunks) {
      yield { def: kind.payload, value: head, extra: Buffer.from(src.rest()) };
      return;
    }
    yield { def: kind.payload, value: head };
    const chunkDef = kind.rest as MessageDef;
    for (let c; (c = readMessage(src, chunkDef)); ) {
      yield { def: chunkDef, value: c, extra: Buffer.from(src.take(num(c, 'len'), 'ghost file chunk data')) };
    }
    return;
  }
  let def = kind.payload;
  for (let v; (v = readMessage(src, def)); ) {
    if (kind.extra && (kind.extra.present?.(v) ?? true)) yield { def, value: v, extra: kind.extra.read(src, v) };
    else yield { def, value: v };
    if (kind.rest) def = kind.rest;
  }
}

export function decodeImage(buf: Buffer, file = '<buffer>'): Image {
  const src = new BufferSource(buf, file);
  const kind = readHead(src);
  return { magic: kind.magic, entries: [...readEntries(src, kind)], byteOrder: src.byteOrder };
}

export function decodeImageFile(file: string): Image {
  const r = ImageReader.open(file);
  try {
    return { magic: r.magic, entries: [...r], byteOrder: r.byteOrder };
  } finally {
    r.close();
  }
}

/** Iterates the entries of an image file without loading it whole. */
export class ImageReader implements Iterable<ImageEntry> {
  private constructor(private readonly src: FileSource, readonly kind: ImageKind) {}
  static open(file: string): ImageReader {
    const src = new FileSource(file);
    try {
      return new ImageReader(src, readHead(src));
    } catch (e) {
      src.close();
      throw e;
    }
  }
  get magic(): string {
    return this.kind.magic;
  }
  /** The byte order the image was written in. */
  get byteOrder(): ImageByteOrder {
    return this.src.byteOrder;
  }
  [Symbol.iterator](): Iterator<ImageEntry> {
    return readEntries(this.src, this.kind);
  }
  close(): void {
    this.src.close();
  }
}

// ------------------------------------------------------------------ writing

function isEmpty(x: ExtraValue | undefined): boolean {
  return x === undefined || ((Array.isArray(x) || Buffer.isBuffer(x)) && x.length === 0);
}

/** Writes head magics and entries in the kind's layout; the def of each entry follows from its position. */
export class EntryEncoder {
  private count = 0;
  constructor(private readonly sink: ByteSink, readonly kind: ImageKind) {
    const head = headMagicFor(kind.magic);
    if (head !== undefined) sink.write(u32host(head));
    sink.write(u32host(magicValue(kind.magic) as number));
  }
  /** The message the next entry must be. */
  get nextDef(): MessageDef {
    return this.count > 0 && this.kind.rest ? this.kind.rest : this.kind.payload;
  }
  write(value: MessageValue, extra?: ExtraValue): void {
    const def = this.nextDef;
    const pb = encode(value, def);
    this.sink.write(u32host(pb.length));
    this.sink.write(pb);
    this.count++;
    if (isEmpty(extra)) return;
    if (this.kind.layout === 'ghost-file') this.sink.write(extra as Buffer);
    else if (this.kind.extra) {
      if (!(this.kind.extra.present?.(value) ?? true)) throw new ImageJsonError('<json>', 'extra', `this entry keeps its ${this.kind.extra.name} elsewhere (in_pagemaps): leave out its extra`);
      this.kind.extra.write(this.sink, extra as ExtraValue, value);
    }
  }
}

function kindOf(magic: string, where: string): ImageKind {
  const kind = imageKind(magic);
  if (!kind || magicValue(magic) === undefined) throw new ImageJsonError(where, 'magic', `expected the name of an image kind, got ${JSON.stringify(magic)}`);
  return kind;
}

export function writeImage(sink: ByteSink, img: Image): void {
  const enc = new EntryEncoder(sink, kindOf(img.magic, '<image>'));
  for (const e of img.entries) enc.write(e.value, e.extra);
}

export function encodeImage(img: Image): Buffer {
  const sink = new BufferSink();
  writeImage(sink, img);
  return sink.result();
}

/** Most bytes a FileSink holds before it writes them. */
const SINK_MAX = 1 << 20;

/**
 * Buffers small writes into blocks of up to 1 MiB for a file descriptor. The buffer starts small
 * and grows with the image: a tree's hundreds of small images each took a 1 MiB buffer (GC work).
 */
export class FileSink implements ByteSink {
  private buf = Buffer.allocUnsafe(16 << 10);
  private len = 0;
  /** `seen` gets every byte as it goes to the file, in file order (its buffer is reused after). */
  constructor(private readonly fd: number, private readonly seen?: (bytes: Uint8Array) => void) {}
  write(b: Uint8Array): void {
    if (this.len + b.length > this.buf.length && this.buf.length < SINK_MAX) {
      const grown = Buffer.allocUnsafe(Math.min(SINK_MAX, Math.max(this.buf.length * 4, this.len + b.length)));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    if (this.len + b.length > this.buf.length) this.flush();
    if (b.length >= this.buf.length) {
      this.out(b);
      return;
    }
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  flush(): void {
    if (this.len) this.out(this.buf.subarray(0, this.len));
    this.len = 0;
  }
  private out(b: Uint8Array): void {
    writeAll(this.fd, b);
    this.seen?.(b);
  }
}

function writeAll(fd: number, b: Uint8Array): void {
  for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off);
}

/**
 * Image files created ahead on libuv's threads (precreateImageFiles): creating a file costs this
 * host's ext4 0.3-0.8 ms of kernel time, ~7 per process of a tree, opening one that exists ~0.05
 * ms; so a dump creates them (empty, closed again: no descriptor held) while it waits for its
 * frozen tasks, and createImageFile opens them. O_EXCL: only files this dump made are its own; one
 * createImageFile makes first is simply not made ahead.
 */
interface Ahead { made: boolean; ready: boolean; taken: boolean; done: Promise<void> }
const ahead = new Map<string, Ahead>();

/** Starts creating `files` (0600) ahead; settle the returned handle before dropUnused or the files' directory goes. */
export function precreateImageFiles(files: readonly string[]): { settled: Promise<void>; dropUnused(): void } {
  const mine: [string, Ahead][] = [];
  for (const file of files) {
    if (ahead.has(file)) continue;
    const a: Ahead = { made: false, ready: false, taken: false, done: Promise.resolve() };
    a.done = new Promise<void>((resolve) => {
      open(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600, (err, fd) => {
        if (err) return resolve(); // createImageFile opens it itself and says why it fails
        a.made = true;
        // The umask may have taken bits: 0600 as createImageFile makes it. Until then (or if that
        // fails) createImageFile treats the file as not made ahead.
        fchmod(fd, 0o600, (e) => {
          a.ready = !e;
          close(fd, () => resolve());
        });
      });
    });
    ahead.set(file, a);
    mine.push([file, a]);
  }
  return {
    settled: Promise.all(mine.map(([, a]) => a.done)).then(() => undefined),
    // Once settled: the files made ahead and never opened by createImageFile are removed.
    dropUnused() {
      for (const [file, a] of mine) {
        if (ahead.get(file) === a) ahead.delete(file);
        if (a.taken || !a.made) continue;
        a.taken = true;
        try { unlinkSync(file); } catch { /* gone already */ }
      }
    },
  };
}

/** Open an image file for writing: 0600, its directory created 0700 when missing. */
export function createImageFile(file: string): number {
  faultPoint(`write ${file}`);
  const a = ahead.get(file);
  if (a !== undefined) {
    ahead.delete(file);
    a.taken = true;
    // Made empty and 0600 by this dump: no truncation or chmod to do.
    if (a.ready) return openSync(file, fsc.O_WRONLY);
  }
  let fd: number;
  try {
    fd = openSync(file, 'w', 0o600);
  } catch (e) {
    // The directory made only when missing: not a mkdir -p for each of a dump's hundred files.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fd = openSync(file, 'w', 0o600);
  }
  fchmodSync(fd, 0o600);
  return fd;
}

/** Writes one image file entry by entry. */
export class ImageWriter {
  private readonly enc: EntryEncoder;
  private readonly sink: FileSink;
  private constructor(private readonly fd: number, readonly file: string, kind: ImageKind, seen?: (bytes: Uint8Array) => void) {
    this.sink = new FileSink(fd, seen);
    this.enc = new EntryEncoder(this.sink, kind);
  }
  /** `magic` is crit's name of the image kind ('CORE', 'PSTREE', 'PAGEMAP', ...); `seen`: as FileSink's. */
  static create(file: string, magic: string, seen?: (bytes: Uint8Array) => void): ImageWriter {
    const kind = kindOf(magic, file);
    return new ImageWriter(createImageFile(file), file, kind, seen);
  }
  write(value: MessageValue, extra?: ExtraValue): this {
    this.enc.write(value, extra);
    return this;
  }
  close(): void {
    try {
      this.sink.flush();
    } finally {
      closeSync(this.fd);
    }
  }
}

/** Write a whole image file (0600); `seen` gets its bytes as they are written (FileSink). */
export function writeImageFile(file: string, magic: string, entries: Iterable<MessageValue | { value: MessageValue; extra?: ExtraValue }>, seen?: (bytes: Uint8Array) => void): void {
  const w = ImageWriter.create(file, magic, seen);
  try {
    writeEntries(w, entries);
  } finally {
    w.close();
  }
}

/** Each entry, a bare message or {value, extra}. */
function writeEntries(w: { write(value: MessageValue, extra?: ExtraValue): unknown }, entries: Iterable<MessageValue | { value: MessageValue; extra?: ExtraValue }>): void {
  for (const e of entries) {
    if ('value' in e && typeof e.value === 'object' && !Buffer.isBuffer(e.value) && !Array.isArray(e.value) && Object.keys(e).every((k) => k === 'value' || k === 'extra')) {
      w.write(e.value as MessageValue, e.extra as ExtraValue | undefined);
    } else w.write(e as MessageValue);
  }
}

/**
 * writeImageFile with the file's write and close on libuv's threads: a tree's ~350 small images
 * are encoded while the earlier ones go to the disk (their write and close: ~0.25 ms of kernel
 * time each on ext4). The image is encoded and its file opened now (an error then is thrown);
 * the promise settles once the file is complete, or rejects with the write's or close's error.
 */
export function writeImageFileSoon(file: string, magic: string, entries: Iterable<MessageValue | { value: MessageValue; extra?: ExtraValue }>, seen?: (bytes: Uint8Array) => void): Promise<void> {
  const kind = kindOf(magic, file);
  const sink = new BufferSink();
  writeEntries(new EntryEncoder(sink, kind), entries);
  const bytes = sink.result();
  const fd = createImageFile(file);
  seen?.(bytes);
  return new Promise((resolve, reject) => {
    const from = (off: number): void => {
      write(fd, bytes, off, bytes.length - off, off, (err, n) => {
        if (err) return close(fd, () => reject(err));
        if (off + n < bytes.length) return from(off + n);
        close(fd, (e) => (e ? reject(e) : resolve()));
      });
    };
    from(0);
  });
}

// ------------------------------------------------------------ crit's JSON

/** The image as crit's JSON document ({magic, entries}). */
export function imageToCrit(img: Image, pretty: boolean): JsonObject {
  const kind = imageKind(img.magic);
  const entries = img.entries.map((e) => {
    const o = messageToCrit(e.value, e.def, pretty);
    if (e.extra !== undefined) {
      if (kind?.layout === 'ghost-file') o.extra = encodeBytesPy(e.extra as Buffer);
      else if (kind?.extra) o.extra = kind.extra.toJson(e.extra);
    }
    return o;
  });
  return { magic: img.magic, entries };
}

/** The text crit decode prints: json.dump(..., indent=4 if pretty). No trailing newline. */
export function critJsonText(img: Image, pretty: boolean): string {
  return pyJsonDumps(imageToCrit(img, pretty), pretty ? 4 : undefined);
}

/** crit's JSON document (plain or pretty) back to an image. */
export function imageFromCrit(doc: JsonValue, file = '<json>'): Image {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ImageJsonError(file, 'top level', 'expected an object {"magic": ..., "entries": [...]}');
  const magic = doc.magic;
  if (typeof magic !== 'string') throw new ImageJsonError(file, 'magic', 'expected the image magic name as a string');
  const kind = kindOf(magic, file);
  const list = doc.entries;
  if (!Array.isArray(list)) throw new ImageJsonError(file, 'entries', 'expected a list of entries');
  let def = kind.payload;
  let chunks = false;
  const entries: ImageEntry[] = list.map((j, i) => {
    const where = `entries[${i}]`;
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new ImageJsonError(file, where, 'expected an object');
    let value: MessageValue;
    let extra: ExtraValue | undefined;
    try {
      value = messageFromCrit(j, def, where);
      if (j.extra !== undefined) {
        if (kind.layout === 'ghost-file') {
          if (typeof j.extra !== 'string') throw new ImageJsonError(file, where + '.extra', 'expected base64 text');
          extra = decodeBytesPy(j.extra, where + '.extra');
        } else if (kind.extra) extra = kind.extra.fromJson(j.extra, where + '.extra');
      }
    } catch (e) {
      throw e instanceof ImageJsonError ? e.withFile(file) : e;
    }
    if (i === 0 && kind.layout === 'ghost-file') chunks = !!value.chunks;
    const entry: ImageEntry = extra === undefined ? { def, value } : { def, value, extra };
    if (kind.rest && (kind.layout !== 'ghost-file' || chunks)) def = kind.rest;
    return entry;
  });
  return { magic, entries };
}
