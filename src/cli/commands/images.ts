// crit's commands on single images: decode, encode, show, info. Same
// arguments, same JSON text, same exit status.

import { closeSync, writeSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type Command, UsageError, readInput, writeText } from '../command.js';
import { specs } from './specs.js';
import { type Image, createImageFile, decodeImage, encodeImage, imageFromCrit, imageToCrit } from '../../images/image.js';
import { pyJsonDumps, parseJson } from '../../images/json-text.js';
import { ImageJsonError } from '../../images/errors.js';
import { imageKind } from '../../images/registry.js';
import { encode } from '../../images/wire.js';
import { ipc_msg } from '../../images/schemas/index.js';
import type { MessageValue } from '../../images/value.js';

function parse(args: string[], options: ParseArgsConfig['options'], positionals = 0) {
  try {
    const r = parseArgs({ args, options: options ?? {}, allowPositionals: positionals > 0, strict: true });
    if (r.positionals.length !== positionals) throw new UsageError(`expected ${positionals} argument(s), got ${r.positionals.length}`);
    return r;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError((e as Error).message.split('\n')[0]);
  }
}

/** crit's human_readable() for --nopl. */
function humanSize(n: number): string {
  for (const unit of ['', 'K', 'M', 'G', 'T', 'P', 'E', 'Z']) {
    if (n < 1024) return Number.isInteger(n) ? `${n}${unit}B` : `${n.toFixed(1)}${unit}B`;
    n /= 1024;
  }
  return `${n.toFixed(1)}YB`;
}

function extraSize(img: Image, extra: unknown): number {
  if (Buffer.isBuffer(extra)) return extra.length;
  if (Array.isArray(extra)) {
    if (img.magic === 'IPCNS_SEM') return 2 * extra.length;
    let n = 0;
    for (let i = 0; i + 1 < extra.length; i += 2) n += encode(extra[i] as MessageValue, ipc_msg).length + (extra[i + 1] as Buffer).length;
    return n;
  }
  const q = extra as { inq: Buffer; outq: Buffer };
  return q.inq.length + q.outq.length;
}

/** crit decode's document; with noPayload, extras are replaced by their size (ghost files: left out). */
function decodedText(img: Image, pretty: boolean, noPayload: boolean): string {
  const doc = imageToCrit(noPayload ? { magic: img.magic, entries: img.entries.map(({ def, value }) => ({ def, value })) } : img, pretty);
  if (noPayload && imageKind(img.magic)?.layout === 'entries') {
    (doc.entries as Record<string, unknown>[]).forEach((e, i) => {
      const x = img.entries[i].extra;
      if (x !== undefined) e.extra = `... <${humanSize(extraSize(img, x))}>`;
    });
  }
  return pyJsonDumps(doc, pretty ? 4 : undefined);
}

function decodeTo(inFile: string | undefined, outFile: string | undefined, pretty: boolean, noPayload: boolean): number {
  const { data, name } = readInput(inFile);
  const text = decodedText(decodeImage(data, name), pretty, noPayload);
  // crit adds the newline only when it prints to stdout.
  writeText(outFile, outFile === undefined || outFile === '-' ? text + '\n' : text);
  return 0;
}

/** Binary image output: a 0600 file, or stdout. */
export function writeBinary(file: string | undefined, data: Buffer): void {
  if (file === undefined || file === '-') {
    process.stdout.write(data);
    return;
  }
  const fd = createImageFile(file);
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
  } finally {
    closeSync(fd);
  }
}

export const decodeCommand: Command = {
  ...specs.decode,
  run(args) {
    const { values } = parse(args, {
      in: { type: 'string', short: 'i' },
      out: { type: 'string', short: 'o' },
      pretty: { type: 'boolean' },
    });
    return decodeTo(values.in as string | undefined, values.out as string | undefined, !!values.pretty, false);
  },
};

export const showCommand: Command = {
  ...specs.show,
  run(args) {
    const { values, positionals } = parse(args, { nopl: { type: 'boolean' } }, 1);
    return decodeTo(positionals[0], undefined, true, !!values.nopl);
  },
};

export const encodeCommand: Command = {
  ...specs.encode,
  run(args) {
    const { values } = parse(args, {
      in: { type: 'string', short: 'i' },
      out: { type: 'string', short: 'o' },
    });
    const { data, name } = readInput(values.in as string | undefined);
    const img = imageFromCrit(parseJson(data.toString('utf8'), name), name);
    let bytes: Buffer;
    try {
      bytes = encodeImage(img);
    } catch (e) {
      throw e instanceof ImageJsonError ? e.withFile(name) : e;
    }
    writeBinary(values.out as string | undefined, bytes);
    return 0;
  },
};

export const infoCommand: Command = {
  ...specs.info,
  run(args) {
    const { positionals } = parse(args, {}, 1);
    const { data, name } = readInput(positionals[0]);
    const img = decodeImage(data, name);
    const count = img.magic === 'PAGEMAP' ? img.entries.length - 1 : img.entries.length;
    process.stdout.write(pyJsonDumps({ magic: img.magic, count }, 4) + '\n');
    return 0;
  },
};
