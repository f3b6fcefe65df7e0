/**
 * cryo-io-uring.img: the io_uring instances of a dump (CRIU 4.2's schema has no message for them;
 * files.img names each ring descriptor as an ext_file_entry so crit lists it, and mm.img its
 * mappings with cryo's VMA status bit IO_URING). Same framing as cryo-files.img: u32 magic, then
 * u32 size + protobuf message per ring.
 *
 *   message cryo_io_uring_entry {
 *     required uint32 id = 1;              // file_entry.id of the ring descriptor
 *     required uint32 sq_entries = 2;
 *     required uint32 cq_entries = 3;
 *     required uint32 flags = 4;           // IORING_SETUP_* cryo found (fdinfo, probes)
 *     optional uint32 sq_thread_cpu = 5;   // with IORING_SETUP_SQ_AFF
 *     required uint32 sq_head = 6;         // the kernel's indexes at dump time (fdinfo)
 *     required uint32 sq_tail = 7;
 *     required uint32 cq_head = 8;
 *     required uint32 cq_tail = 9;
 *     repeated cryo_io_uring_map maps = 10;  // { uint64 start = 1; bytes data = 2; }: each mapping's bytes
 *     optional uint32 nr_bufs = 11;        // registered buffer table size
 *     repeated cryo_io_uring_buf bufs = 12;  // { uint32 index = 1; uint64 addr = 2; uint32 len = 3; }
 *     optional uint32 nr_files = 13;       // registered file table size
 *     repeated cryo_io_uring_file files = 14;  // { uint32 index = 1; uint32 fd = 2; string path = 3; }: a set
 *                                          // slot, the task's descriptor of the same open file, fdinfo's name
 *     optional uint32 submitter_tid = 15;  // IORING_SETUP_SINGLE_ISSUER: the thread that alone may use it
 *     optional uint32 sq_thread_idle = 16; // IORING_SETUP_SQPOLL: ms its thread spins before it sleeps (as measured)
 *     optional uint32 eventfd = 17;        // the task's descriptor of the eventfd registered on it (IORING_REGISTER_EVENTFD)
 *     optional bool eventfd_async = 18;    // registered with IORING_REGISTER_EVENTFD_ASYNC
 *   }
 */
import path from 'node:path';
import type { MessageValue } from './index.js';
import { message, req, opt, rep } from './schema.js';
import { readCryoImage, writeCryoImage } from './cryo-framing.js';

export const CRYO_IO_URING_IMAGE = 'cryo-io-uring.img';
/** 'CRYU' read as a little-endian u32. */
export const CRYO_IO_URING_MAGIC = 0x55595243;

const cryo_io_uring_map = message('cryo_io_uring_map', [req(1, 'start', 'uint64'), req(2, 'data', 'bytes')]);
const cryo_io_uring_buf = message('cryo_io_uring_buf', [req(1, 'index', 'uint32'), req(2, 'addr', 'uint64'), req(3, 'len', 'uint32')]);
const cryo_io_uring_file = message('cryo_io_uring_file', [req(1, 'index', 'uint32'), req(2, 'fd', 'uint32'), req(3, 'path', 'string')]);
export const cryo_io_uring_entry = message('cryo_io_uring_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'sq_entries', 'uint32'),
  req(3, 'cq_entries', 'uint32'),
  req(4, 'flags', 'uint32'),
  opt(5, 'sq_thread_cpu', 'uint32'),
  req(6, 'sq_head', 'uint32'),
  req(7, 'sq_tail', 'uint32'),
  req(8, 'cq_head', 'uint32'),
  req(9, 'cq_tail', 'uint32'),
  rep(10, 'maps', () => cryo_io_uring_map),
  opt(11, 'nr_bufs', 'uint32'),
  rep(12, 'bufs', () => cryo_io_uring_buf),
  opt(13, 'nr_files', 'uint32'),
  rep(14, 'files', () => cryo_io_uring_file),
  opt(15, 'submitter_tid', 'uint32'),
  opt(16, 'sq_thread_idle', 'uint32'),
  opt(17, 'eventfd', 'uint32'),
  opt(18, 'eventfd_async', 'bool'),
]);

export interface IoUringImage {
  id: number;
  sqEntries: number;
  cqEntries: number;
  flags: number;
  sqThreadCpu?: number;
  sqHead: number;
  sqTail: number;
  cqHead: number;
  cqTail: number;
  maps: { start: bigint; data: Buffer }[];
  nrBufs: number;
  bufs: { index: number; addr: bigint; len: number }[];
  nrFiles: number;
  /** Registered files: slot, the task's descriptor of that open file, and the name fdinfo shows. */
  files: { index: number; fd: number; path: string }[];
  /** IORING_SETUP_SINGLE_ISSUER: the thread (TID) that alone may submit and register. */
  submitterTid?: number;
  /** IORING_SETUP_SQPOLL: how long (ms) its thread spins idle before it sleeps, as cryo measured it. */
  sqThreadIdle?: number;
  /** The task's descriptor of the eventfd registered on the ring (IORING_REGISTER_EVENTFD). */
  eventfd?: number;
  /** Registered with IORING_REGISTER_EVENTFD_ASYNC: signalled only for completions io_uring's worker threads post. */
  eventfdAsync?: boolean;
}

function toMessage(r: IoUringImage): MessageValue {
  const m: MessageValue = {
    id: r.id, sq_entries: r.sqEntries, cq_entries: r.cqEntries, flags: r.flags,
    sq_head: r.sqHead, sq_tail: r.sqTail, cq_head: r.cqHead, cq_tail: r.cqTail,
    maps: r.maps.map((x) => ({ start: x.start, data: x.data })),
    bufs: r.bufs.map((b) => ({ index: b.index, addr: b.addr, len: b.len })),
    files: r.files.map((f) => ({ index: f.index, fd: f.fd, path: f.path })),
  };
  if (r.nrFiles > 0) m.nr_files = r.nrFiles;
  if (r.sqThreadCpu !== undefined) m.sq_thread_cpu = r.sqThreadCpu;
  if (r.nrBufs > 0) m.nr_bufs = r.nrBufs;
  if (r.submitterTid !== undefined) m.submitter_tid = r.submitterTid;
  if (r.sqThreadIdle !== undefined) m.sq_thread_idle = r.sqThreadIdle;
  if (r.eventfd !== undefined) m.eventfd = r.eventfd;
  if (r.eventfdAsync) m.eventfd_async = true;
  return m;
}

function fromMessage(v: MessageValue): IoUringImage {
  const n = (x: unknown) => Number(x ?? 0);
  return {
    id: n(v.id), sqEntries: n(v.sq_entries), cqEntries: n(v.cq_entries), flags: n(v.flags),
    ...(v.sq_thread_cpu !== undefined ? { sqThreadCpu: n(v.sq_thread_cpu) } : {}),
    sqHead: n(v.sq_head), sqTail: n(v.sq_tail), cqHead: n(v.cq_head), cqTail: n(v.cq_tail),
    maps: ((v.maps as MessageValue[] | undefined) ?? []).map((x) => ({ start: BigInt(x.start as bigint), data: Buffer.from(x.data as Uint8Array) })),
    nrBufs: n(v.nr_bufs),
    bufs: ((v.bufs as MessageValue[] | undefined) ?? []).map((b) => ({ index: n(b.index), addr: BigInt(b.addr as bigint), len: n(b.len) })),
    nrFiles: n(v.nr_files),
    files: ((v.files as MessageValue[] | undefined) ?? []).map((f) => ({ index: n(f.index), fd: n(f.fd), path: String(f.path) })),
    ...(v.submitter_tid !== undefined ? { submitterTid: n(v.submitter_tid) } : {}),
    ...(v.sq_thread_idle !== undefined ? { sqThreadIdle: n(v.sq_thread_idle) } : {}),
    ...(v.eventfd !== undefined ? { eventfd: n(v.eventfd) } : {}),
    ...(v.eventfd_async === true ? { eventfdAsync: true } : {}),
  };
}

export function writeCryoIoUring(file: string, rings: readonly IoUringImage[]): void {
  writeCryoImage(file, CRYO_IO_URING_MAGIC, cryo_io_uring_entry, rings.map(toMessage));
}

/** DIR/cryo-io-uring.img by ring file id; empty when the dump has none. */
export function readCryoIoUring(dir: string): Map<number, IoUringImage> {
  const out = new Map<number, IoUringImage>();
  for (const v of readCryoImage(path.join(dir, CRYO_IO_URING_IMAGE), CRYO_IO_URING_MAGIC, cryo_io_uring_entry, 'cryo-io-uring') ?? []) {
    const r = fromMessage(v);
    out.set(r.id, r);
  }
  return out;
}
