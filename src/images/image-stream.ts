// cryo's image stream (`dump --stream`, `restore --stream`): a dump directory as one byte stream, so
// that `cryo dump ... --stream | ssh host cryo restore --stream` needs no shared disk. The framing,
// in network byte order whatever the hosts' (the images inside keep their own):
//   "CRYOSTM1"
//   per image: u32 name length (1-255), the name (a plain file name), u64 byte count, the bytes
//   end: u32 0, u32 image count, u64 total image bytes; then the stream ends.
// The manifest (cryo-manifest.img) travels as an image like any other: restore checks every image
// against it as it does a directory's; the end record proves the stream was not cut.
import { closeSync, fstatSync, openSync, readSync, readdirSync, lstatSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createImageFile } from './image.js';

export const STREAM_MAGIC = Buffer.from('CRYOSTM1', 'latin1');
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const CHUNK = 1 << 20;

export class ImageStreamError extends Error {}

/** Writes `buf` to `out`, waiting while the reader is behind; rejects on a write error (EPIPE: the reader went away). */
function put(out: Writable, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    let flushed = false;
    const done = (e?: Error | null) => {
      if (flushed) return;
      flushed = true;
      out.off('error', done);
      if (e) reject(e); else resolve();
    };
    out.once('error', done);
    out.write(buf, done);
  });
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

/** The images of `dir` (regular files only: a dump with anything else cannot travel as a stream). */
function streamedImages(dir: string): string[] {
  const names = readdirSync(dir).sort();
  for (const n of names) {
    if (!lstatSync(path.join(dir, n)).isFile()) throw new ImageStreamError(`${path.join(dir, n)} is not a regular file: a dump that links to a parent or holds other entries cannot be streamed`);
    if (!NAME.test(n)) throw new ImageStreamError(`${n}: not an image name a stream can carry`);
  }
  return names;
}

/** Sends every image of `dir` to `out`, then the end record; returns the bytes of images sent. */
export async function writeImageStream(dir: string, out: Writable): Promise<number> {
  const names = streamedImages(dir);
  await put(out, STREAM_MAGIC);
  let total = 0;
  const buf = Buffer.allocUnsafe(CHUNK);
  for (const n of names) {
    const fd = openSync(path.join(dir, n), 'r');
    try {
      const size = fstatSync(fd).size;
      const name = Buffer.from(n, 'utf8');
      await put(out, Buffer.concat([u32(name.length), name, u64(size)]));
      for (let off = 0; off < size;) {
        const got = readSync(fd, buf, 0, Math.min(CHUNK, size - off), off);
        if (got === 0) throw new ImageStreamError(`${n} shrank while it was streamed`);
        await put(out, Buffer.from(buf.subarray(0, got)));
        off += got;
      }
      total += size;
    } finally {
      closeSync(fd);
    }
  }
  await put(out, Buffer.concat([u32(0), u32(names.length), u64(total)]));
  return total;
}

/** Pulls bytes from a stream as asked; `need(n)` resolves with exactly n bytes or undefined at its end. */
class Puller {
  private pending: Buffer[] = [];
  private have = 0;
  offset = 0;
  private readonly it: AsyncIterator<Buffer>;
  constructor(input: Readable) {
    this.it = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }
  /** Bytes that arrived so far, taken or not. */
  get received(): number {
    return this.offset + this.have;
  }
  private async fill(n: number): Promise<boolean> {
    while (this.have < n) {
      const r = await this.it.next();
      if (r.done) return false;
      const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
      this.pending.push(b);
      this.have += b.length;
    }
    return true;
  }
  /** Up to `max` bytes (at least one), or undefined at the end of the stream. */
  async some(max: number): Promise<Buffer | undefined> {
    if (!(await this.fill(1))) return undefined;
    const head = this.pending[0]!;
    const b = head.length <= max ? head : head.subarray(0, max);
    if (b === head) this.pending.shift(); else this.pending[0] = head.subarray(max);
    this.have -= b.length;
    this.offset += b.length;
    return b;
  }
  async need(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) return undefined;
    const all = Buffer.concat(this.pending);
    this.pending = all.length > n ? [all.subarray(n)] : [];
    this.have -= n;
    this.offset += n;
    return all.subarray(0, n);
  }
}

/**
 * Reads an image stream into `dir` (an empty directory of the caller's, 0700): each image 0600.
 * Throws ImageStreamError naming what is wrong when the stream is not one, is cut or goes on past
 * its end; then `dir` holds a part of the images, which the caller removes.
 */
export async function readImageStream(input: Readable, dir: string): Promise<{ images: number; bytes: number }> {
  const p = new Puller(input);
  const cut = (what: string) => new ImageStreamError(`the image stream ends after ${p.received} bytes, ${what}: it was cut short; send the whole stream again`);
  const magic = await p.need(STREAM_MAGIC.length);
  if (magic === undefined || !magic.equals(STREAM_MAGIC)) {
    throw new ImageStreamError(p.received === 0 ? 'the image stream is empty: pipe `cryo dump --stream` into it' : 'this is not a cryo image stream (no CRYOSTM1 at its start): pipe `cryo dump --stream` into it');
  }
  const seen = new Set<string>();
  let total = 0;
  for (;;) {
    const len = await p.need(4);
    if (len === undefined) throw cut(`after ${seen.size} images and before its end record`);
    const nameLen = len.readUInt32BE(0);
    if (nameLen === 0) break;
    const at = p.offset - 4;
    if (nameLen > 255) throw new ImageStreamError(`the image stream is damaged at byte ${at}: an image name of ${nameLen} bytes; send the whole stream again`);
    const head = await p.need(nameLen + 8);
    if (head === undefined) throw cut(`inside the header of image ${seen.size + 1}`);
    const name = head.subarray(0, nameLen).toString('utf8');
    if (!NAME.test(name) || seen.has(name)) throw new ImageStreamError(`the image stream is damaged at byte ${at}: ${seen.has(name) ? 'a second' : 'an image named'} ${JSON.stringify(name)}${seen.has(name) ? ' image' : ''}; send the whole stream again`);
    seen.add(name);
    const size = head.readBigUInt64BE(nameLen);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new ImageStreamError(`the image stream is damaged at byte ${at}: ${name} claims ${size} bytes; send the whole stream again`);
    const fd = createImageFile(path.join(dir, name));
    try {
      for (let left = Number(size); left > 0;) {
        const b = await p.some(Math.min(left, CHUNK));
        if (b === undefined) throw cut(`inside ${name} (${Number(size) - left} of its ${size} bytes)`);
        writeSync(fd, b);
        left -= b.length;
      }
    } finally {
      closeSync(fd);
    }
    total += Number(size);
  }
  const end = await p.need(12);
  if (end === undefined) throw cut('inside its end record');
  const count = end.readUInt32BE(0);
  const bytes = end.readBigUInt64BE(4);
  if (count !== seen.size || bytes !== BigInt(total)) {
    throw new ImageStreamError(`the image stream's end record counts ${count} images and ${bytes} bytes, but it carried ${seen.size} and ${total}: it is damaged; send the whole stream again`);
  }
  if ((await p.some(1)) !== undefined) throw new ImageStreamError(`the image stream goes on after its end record (byte ${p.offset - 1}): send one dump's stream alone`);
  return { images: seen.size, bytes: total };
}
