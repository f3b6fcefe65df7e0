// The payloads that follow some entries outside protobuf, exactly as CRIU
// writes them and crit shows them ('extra' in crit's JSON).

import { ImageError, ImageJsonError } from './errors.js';
import type { ByteSink, ByteSource } from './io.js';
import { readI32In, readU16In, u32host } from './io.js';
import type { JsonValue } from './json-text.js';
import { decodeBytesPy, encodeBytesPy } from './pybytes.js';
import { messageFromCrit, messageToCrit } from './crit-json.js';
import { ipc_msg } from './schemas/index.js';
import { decode, encode } from './wire.js';
import type { MessageValue } from './value.js';
import { writeU16 } from '../sys/native-endian.js';

export type ExtraValue = Buffer | { inq: Buffer; outq: Buffer } | number[] | (MessageValue | Buffer)[];

export interface ExtraHandler {
  readonly name: string;
  /** Whether `entry` is followed by the payload at all (always, when not given). */
  present?(entry: MessageValue): boolean;
  read(src: ByteSource, entry: MessageValue): ExtraValue;
  write(sink: ByteSink, extra: ExtraValue, entry: MessageValue): void;
  toJson(extra: ExtraValue): JsonValue;
  fromJson(json: JsonValue, where: string): ExtraValue;
}

const roundUp = (x: number, y: number): number => Math.ceil(x / y) * y;

function num(entry: MessageValue, field: string): number {
  const v = entry[field];
  return typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : 0;
}

function b64In(json: JsonValue, where: string): Buffer {
  if (typeof json !== 'string') throw new ImageJsonError('<json>', where, 'expected base64 text');
  return decodeBytesPy(json, where);
}

/** A blob whose length is a field of the entry (pipe data, socket queues, bpf map data). */
function blob(name: string, len: (e: MessageValue) => number, pad = 1): ExtraHandler {
  return {
    name,
    read: (src, e) => {
      const n = len(e);
      const data = Buffer.from(src.take(n, `${name} of the entry before`));
      if (pad > 1) src.take(roundUp(n, pad) - n, `padding after ${name}`);
      return data;
    },
    write: (sink, x, e) => {
      const b = x as Buffer;
      const n = len(e);
      sink.write(b.subarray(0, n));
      if (pad > 1) sink.write(Buffer.alloc(roundUp(n, pad) - Math.min(n, b.length)));
    },
    toJson: (x) => encodeBytesPy(x as Buffer),
    fromJson: b64In,
  };
}

export const pipeData = blob('pipe data', (e) => num(e, 'bytes'));
export const skQueue = blob('socket queue data', (e) => num(e, 'length'));
export const bpfmapData = blob('bpf map data', (e) => num(e, 'keys_bytes') + num(e, 'values_bytes'));
/** Segment contents follow the entry unless CRIU (4.x) put them in pagemap-shmem/pages images (in_pagemaps). */
export const ipcShm: ExtraHandler = { ...blob('shared memory contents', (e) => num(e, 'size'), 4), present: (e) => e.in_pagemaps !== true };

export const tcpStream: ExtraHandler = {
  name: 'tcp queues',
  read: (src, e) => ({
    inq: Buffer.from(src.take(num(e, 'inq_len'), 'tcp input queue')),
    outq: Buffer.from(src.take(num(e, 'outq_len'), 'tcp output queue')),
  }),
  write: (sink, x) => {
    const q = x as { inq: Buffer; outq: Buffer };
    sink.write(q.inq);
    sink.write(q.outq);
  },
  toJson: (x) => {
    const q = x as { inq: Buffer; outq: Buffer };
    return { inq: encodeBytesPy(q.inq), outq: encodeBytesPy(q.outq) };
  },
  fromJson: (j, where) => {
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new ImageJsonError('<json>', where, 'expected {inq, outq}');
    return { inq: b64In(j.inq ?? '', where + '.inq'), outq: b64In(j.outq ?? '', where + '.outq') };
  },
};

/** Semaphore values: nsems u16 words, padded to 8 bytes. */
export const ipcSem: ExtraHandler = {
  name: 'semaphore values',
  read: (src, e) => {
    const n = num(e, 'nsems');
    const b = src.take(2 * n, 'semaphore values');
    src.take(roundUp(2 * n, 8) - 2 * n, 'padding after semaphore values');
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(readU16In(b, 2 * i, src.byteOrder));
    return out;
  },
  write: (sink, x, e) => {
    const vals = x as number[];
    const n = num(e, 'nsems');
    if (vals.length !== n) throw new ImageJsonError('<json>', 'extra', `expected ${n} semaphore values, got ${vals.length}`);
    const b = Buffer.alloc(roundUp(2 * n, 8));
    vals.forEach((v, i) => writeU16(b, v & 0xffff, 2 * i));
    sink.write(b);
  },
  toJson: (x) => x as number[],
  fromJson: (j, where) => {
    if (!Array.isArray(j) || !j.every((v) => typeof v === 'number')) throw new ImageJsonError('<json>', where, 'expected a list of numbers');
    return j as number[];
  },
};

/** Queued messages: qnum times (u32 size, ipc_msg, msize bytes padded to 8). */
export const ipcMsg: ExtraHandler = {
  name: 'message queue',
  read: (src, e) => {
    const out: (MessageValue | Buffer)[] = [];
    for (let i = 0; i < num(e, 'qnum') && !src.atEnd(); i++) {
      const sizeAt = src.pos;
      const size = readI32In(src.take(4, 'the size of an ipc_msg'), 0, src.byteOrder);
      if (size < 0) throw new ImageError(src.file, sizeAt, `a message size, not ${size}`);
      const at = src.pos;
      const msg = decode(src.take(size, 'an ipc_msg'), ipc_msg, src.file, at);
      const msize = num(msg, 'msize');
      out.push(msg, Buffer.from(src.take(msize, 'message data')));
      src.take(roundUp(msize, 8) - msize, 'padding after message data');
    }
    return out;
  },
  write: (sink, x) => {
    const list = x as (MessageValue | Buffer)[];
    for (let i = 0; i + 1 < list.length; i += 2) {
      const msg = list[i] as MessageValue;
      const pb = encode(msg, ipc_msg);
      sink.write(u32host(pb.length));
      sink.write(pb);
      const msize = num(msg, 'msize');
      const data = (list[i + 1] as Buffer).subarray(0, msize);
      sink.write(data);
      sink.write(Buffer.alloc(roundUp(msize, 8) - data.length));
    }
  },
  toJson: (x) => (x as (MessageValue | Buffer)[]).map((v, i) => (i % 2 === 0 ? messageToCrit(v as MessageValue, ipc_msg, false) : encodeBytesPy(v as Buffer))),
  fromJson: (j, where) => {
    if (!Array.isArray(j)) throw new ImageJsonError('<json>', where, 'expected a list');
    return j.map((v, i) => {
      if (i % 2 === 1) return b64In(v, `${where}[${i}]`);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ImageJsonError('<json>', `${where}[${i}]`, 'expected an ipc_msg object');
      return messageFromCrit(v, ipc_msg);
    });
  },
};
