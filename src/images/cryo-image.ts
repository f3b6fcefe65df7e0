/**
 * cryo-files.img: facts about the files a dump refers to that CRIU's messages have no field for
 * (the modification time, for restore's preflight check that a file is still the one the task
 * had). cryo's own image, with its own magic, in CRIU's framing: u32 magic, then entries of
 * u32 size + protobuf message. crit does not know it; CRIU ignores files it does not know.
 *
 *   message cryo_file_stat_entry {
 *     required uint32 id = 1;         // the file_entry / reg_file_entry id in files.img
 *     required uint64 mtime_sec = 2;
 *     required uint32 mtime_nsec = 3;
 *     required uint64 size = 4;
 *     optional uint64 dev = 5;        // st_dev, user-space encoding
 *     optional uint64 ino = 6;
 *     optional bool eventfd_semaphore = 7;  // an eventfd made with EFD_SEMAPHORE (not in f_flags)
 *     repeated uint32 epoll_targets = 8;    // an epoll's watched files: file ids, in tfd order
 *     optional bool tcp_port_released = 9;  // a TCP socket whose connection ended gave its port back (connect had picked it)
 *     optional uint32 netlink_opts = 10;    // a netlink socket's flag options (netlink-sk.ts: one bit per option)
 *     optional uint32 socket_type = 11;     // a netlink socket's type (SOCK_RAW or SOCK_DGRAM)
 *   }
 */
import path from 'node:path';
import type { MessageValue } from './index.js';
import { message, req, opt, rep } from './schema.js';
import { readCryoImage, writeCryoImage } from './cryo-framing.js';

export const CRYO_FILES_IMAGE = 'cryo-files.img';
/** 'CRYF' read as a little-endian u32. */
export const CRYO_FILES_MAGIC = 0x46595243;

export const cryo_file_stat_entry = message('cryo_file_stat_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'mtime_sec', 'uint64'),
  req(3, 'mtime_nsec', 'uint32'),
  req(4, 'size', 'uint64'),
  opt(5, 'dev', 'uint64'),
  opt(6, 'ino', 'uint64'),
  opt(7, 'eventfd_semaphore', 'bool'),
  rep(8, 'epoll_targets', 'uint32'),
  opt(9, 'tcp_port_released', 'bool'),
  opt(10, 'netlink_opts', 'uint32'),
  opt(11, 'socket_type', 'uint32'),
]);

export interface CryoFileStat {
  id: number;
  mtimeSec: bigint;
  mtimeNsec: number;
  size: bigint;
  dev?: bigint;
  ino?: bigint;
  eventfdSemaphore?: boolean;
  /** An epoll's watched files (file ids, one per tfd entry, in order): the target may be any process's. */
  epollTargets?: number[];
  /** A TCP socket whose connection ended no longer holds its port (connect() had picked it; bind() keeps it). */
  tcpPortReleased?: boolean;
  /** A netlink socket's flag options (bits of netlink-sk.ts) and its type: CRIU's entry has no field for them. */
  netlinkOpts?: number;
  socketType?: number;
}

export function writeCryoFileStats(file: string, stats: readonly CryoFileStat[]): void {
  writeCryoImage(file, CRYO_FILES_MAGIC, cryo_file_stat_entry, stats.map((s) => {
    const v: MessageValue = { id: s.id, mtime_sec: s.mtimeSec, mtime_nsec: s.mtimeNsec, size: s.size };
    if (s.dev !== undefined) v.dev = s.dev;
    if (s.ino !== undefined) v.ino = s.ino;
    if (s.eventfdSemaphore !== undefined) v.eventfd_semaphore = s.eventfdSemaphore;
    if (s.epollTargets !== undefined) v.epoll_targets = s.epollTargets;
    if (s.tcpPortReleased !== undefined) v.tcp_port_released = s.tcpPortReleased;
    if (s.netlinkOpts !== undefined) v.netlink_opts = s.netlinkOpts;
    if (s.socketType !== undefined) v.socket_type = s.socketType;
    return v;
  }));
}

/** The entries of DIR/cryo-files.img by file id; an empty map when the dump has none (e.g. made by CRIU). */
export function readCryoFileStats(dir: string): Map<number, CryoFileStat> {
  const out = new Map<number, CryoFileStat>();
  for (const v of readCryoImage(path.join(dir, CRYO_FILES_IMAGE), CRYO_FILES_MAGIC, cryo_file_stat_entry, 'cryo-files') ?? []) {
    const s: CryoFileStat = { id: v.id as number, mtimeSec: v.mtime_sec as bigint, mtimeNsec: v.mtime_nsec as number, size: v.size as bigint };
    if (v.dev !== undefined) s.dev = v.dev as bigint;
    if (v.ino !== undefined) s.ino = v.ino as bigint;
    if (v.eventfd_semaphore !== undefined) s.eventfdSemaphore = v.eventfd_semaphore as boolean;
    if (v.tcp_port_released !== undefined) s.tcpPortReleased = v.tcp_port_released as boolean;
    if (v.netlink_opts !== undefined) s.netlinkOpts = Number(v.netlink_opts);
    if (v.socket_type !== undefined) s.socketType = Number(v.socket_type);
    if (Array.isArray(v.epoll_targets) && v.epoll_targets.length > 0) s.epollTargets = (v.epoll_targets as number[]).map(Number);
    out.set(s.id, s);
  }
  return out;
}

/**
 * cryo-links.img: the symbolic links a dump found on the way to a name it recorded as given (a unix
 * socket bound through /var/run, say), so restore follows exactly those and no other. Written only
 * when there are any. Same framing: u32 magic, then u32 size + protobuf message per entry.
 *
 *   message cryo_link_entry {
 *     required string path = 1;    // the link, an absolute path
 *     required string target = 2;  // what it pointed to (readlink)
 *   }
 */
export const CRYO_LINKS_IMAGE = 'cryo-links.img';
/** 'CRYL' read as a little-endian u32. */
export const CRYO_LINKS_MAGIC = 0x4c595243;

export const cryo_link_entry = message('cryo_link_entry', [req(1, 'path', 'string'), req(2, 'target', 'string')]);

export function writeCryoLinks(file: string, links: ReadonlyMap<string, string>): void {
  writeCryoImage(file, CRYO_LINKS_MAGIC, cryo_link_entry, [...links].map(([p, target]) => ({ path: p, target })));
}

/** DIR/cryo-links.img as link path -> target; empty when the dump has none. */
export function readCryoLinks(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of readCryoImage(path.join(dir, CRYO_LINKS_IMAGE), CRYO_LINKS_MAGIC, cryo_link_entry, 'cryo-links') ?? []) {
    out.set(String(v.path), String(v.target));
  }
  return out;
}
