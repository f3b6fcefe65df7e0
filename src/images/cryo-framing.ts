// The framing of cryo's own images (cryo-*.img): u32 magic, then u32 size + protobuf message per
// entry, as CRIU frames its images; crit does not know them and CRIU ignores files it does not know.
import { closeSync, existsSync, readFileSync, writeSync } from 'node:fs';
import { createImageFile, decode, encode, type MessageValue } from './index.js';
import type { MessageDef } from './schema.js';
import { readU32, writeU32 } from '../sys/native-endian.js';

/** Writes FILE (0600) with `magic` and one framed message per entry. */
export function writeCryoImage(file: string, magic: number, schema: MessageDef, entries: readonly MessageValue[]): void {
  const fd = createImageFile(file);
  try {
    const head = Buffer.alloc(4);
    writeU32(head, magic, 0);
    const parts: Buffer[] = [head];
    for (const e of entries) {
      const pb = encode(e, schema);
      const len = Buffer.alloc(4);
      writeU32(len, pb.length, 0);
      parts.push(len, pb);
    }
    writeSync(fd, Buffer.concat(parts));
  } finally {
    closeSync(fd);
  }
}

/** FILE's entries; undefined when there is no such file (a dump made by CRIU or an older cryo). */
export function readCryoImage(file: string, magic: number, schema: MessageDef, what: string): MessageValue[] | undefined {
  if (!existsSync(file)) return undefined;
  const buf = readFileSync(file);
  if (buf.length < 4 || readU32(buf, 0) !== magic) throw new Error(`${file}: not a ${what} image (bad magic)`);
  const out: MessageValue[] = [];
  for (let off = 4; off < buf.length;) {
    if (off + 4 > buf.length) throw new Error(`${file}: cut short at byte ${off}`);
    const n = readU32(buf, off);
    if (off + 4 + n > buf.length) throw new Error(`${file}: an entry at byte ${off} runs past the end`);
    out.push(decode(buf.subarray(off + 4, off + 4 + n), schema, file, off + 4));
    off += 4 + n;
  }
  return out;
}
