// Netlink sockets (NETLINKSK, file_entry.nlsk = netlink_sk_entry, as CRIU 4.2 writes it): the
// protocol, the port id it is bound to, every multicast group it is in (NETLINK_LIST_MEMBERSHIPS:
// beyond the 32 of bind's mask too, which CRIU refuses), the peer it is connected to, its socket
// options; its type and the flag options (NETLINK_PKTINFO, NETLINK_EXT_ACK, ...) CRIU's entry has
// no field for go into cryo-files.img. State and peer come from sock_diag (NETLINK_DIAG), which
// lists bound sockets and group members; a socket it does not list is unbound and unconnected.
//
// Refused: messages waiting to be read (CRIU refuses them too: they are the kernel's answers and
// events, not made again), and a socket the kernel is in the middle of a dump for.
// Restore binds the same port id (the task's PID, usually: cryo restores PIDs; preflight checks it
// is free), joins the groups, connects, and sets the options.
import { closeSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import { readCryoFileStats } from '../images/cryo-image.js';
import { DumpError } from '../shared/dump-error.js';
import type { FileTable } from '../shared/file-table.js';
import { RestoreError } from '../shared/restore-error.js';
import { num } from '../shared/constants.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { POLLIN, SysError, pollFd, rawSyscall, readU32, writeI32, writeU16, writeU32 } from '../sys/index.js';
import { AF_NETLINK, SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, parseAttrs, readStruct, withSockDiag, writeStruct, type StructLayout } from '../sys/netlink.js';
import type { FdKind } from './kind.js';
import { setFileFlags, taskCall } from './anon.js';
import { SO, dumpSocketOpts, getIntOpt, restoreSocketOpts, socketFamily } from './socket-opts.js';

const SOL_NETLINK = 270;
const NETLINK_ADD_MEMBERSHIP = 1;
const NETLINK_LIST_MEMBERSHIPS = 9;
const SOCK_DGRAM = 2;
const SOCK_RAW = 3;
const CONNECTED = 1;
/** The flag options, one bit each in cryo-files.img's netlink_opts (bit = 1 << index here). */
const FLAG_OPTS: readonly [number, string][] = [
  [3, 'NETLINK_PKTINFO'], [4, 'NETLINK_BROADCAST_ERROR'], [5, 'NETLINK_NO_ENOBUFS'], [8, 'NETLINK_LISTEN_ALL_NSID'],
  [10, 'NETLINK_CAP_ACK'], [11, 'NETLINK_EXT_ACK'], [12, 'NETLINK_GET_STRICT_CHK'],
];

/** struct netlink_diag_req (linux/netlink_diag.h): every protocol (NDIAG_PROTO_ALL), with its flags. */
const DIAG_REQ: StructLayout<'family' | 'protocol' | 'show'> = { size: 20, fields: { family: [0, 'u8'], protocol: [1, 'u8'], show: [8, 'u32'] } };
/** struct netlink_diag_msg. */
const DIAG_MSG: StructLayout<'state' | 'protocol' | 'portid' | 'dstPortid' | 'dstGroup' | 'ino'> = {
  size: 28, fields: { protocol: [2, 'u8'], state: [3, 'u8'], portid: [4, 'u32'], dstPortid: [8, 'u32'], dstGroup: [12, 'u32'], ino: [16, 'u32'] },
};
const NDIAG_PROTO_ALL = 255;
const NDIAG_SHOW_FLAGS = 0x8;
const NETLINK_DIAG_FLAGS = 5;
const NDIAG_FLAG_CB_RUNNING = 0x1;

interface NlDiag { state: number; portid: number; dstPortid: number; dstGroup: number; dumping: boolean }

/** sock_diag's netlink sockets of cryo's network namespace, asked once per dump, by inode. */
const diagCache = new WeakMap<FileTable, Map<number, NlDiag>>();
function diagOf(table: FileTable, inode: number): NlDiag | undefined {
  let m = diagCache.get(table);
  if (!m) {
    m = new Map();
    const req = writeStruct(DIAG_REQ, { family: AF_NETLINK, protocol: NDIAG_PROTO_ALL, show: NDIAG_SHOW_FLAGS });
    for (const a of withSockDiag((nl) => nl.request(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, req, 'sock_diag(NETLINK)'))) {
      if (a.payload.length < DIAG_MSG.size) continue;
      const d = readStruct(DIAG_MSG, a.payload);
      const flags = parseAttrs(a.payload, DIAG_MSG.size).get(NETLINK_DIAG_FLAGS);
      m.set(d.ino, { state: d.state, portid: d.portid, dstPortid: d.dstPortid, dstGroup: d.dstGroup, dumping: flags !== undefined && (readU32(flags, 0) & NDIAG_FLAG_CB_RUNNING) !== 0 });
    }
    diagCache.set(table, m);
  }
  return m.get(inode);
}

/** Every group the socket is in, as 32-bit words of a bitmap (trailing zero words left out, as CRIU). */
function memberships(fd: number): number[] {
  const len = Buffer.alloc(4);
  let b = Buffer.alloc(8);
  for (;;) {
    writeU32(len, b.length, 0);
    rawSyscall('getsockopt', fd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, b, len);
    if (readU32(len, 0) <= b.length) break;
    b = Buffer.alloc(readU32(len, 0));
  }
  const words = Array.from({ length: readU32(len, 0) / 4 }, (_, i) => readU32(b, i * 4));
  while (words.length > 0 && words[words.length - 1] === 0) words.pop();
  return words;
}

function getNl(fd: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  writeU32(len, 4, 0);
  rawSyscall('getsockopt', fd, SOL_NETLINK, name, v, len);
  return readU32(v, 0);
}

function setNl(ctx: TaskCtx, fd: number, name: number, value: number, what: string, why: string): void {
  const b = Buffer.alloc(4);
  writeI32(b, value, 0);
  const r = ctx.raw('setsockopt', fd, SOL_NETLINK, name, ctx.put(b, 0), 4);
  if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from setsockopt(${what}${what.endsWith('MEMBERSHIP') ? ` ${value}` : ''}) restoring ${why}`);
}

/** struct sockaddr_nl. */
function sockaddrNl(portid: number, groups: number): Buffer {
  const b = Buffer.alloc(12);
  writeU16(b, AF_NETLINK, 0);
  writeU32(b, portid >>> 0, 4);
  writeU32(b, groups >>> 0, 8);
  return b;
}

/** The port id is free on this machine: a probe socket of cryo's binds it. */
function checkPortFree(protocol: number, portid: number, why: string): void {
  const fd = Number(rawSyscall('socket', AF_NETLINK, SOCK_RAW | 0o2000000, protocol));
  try {
    const sa = sockaddrNl(portid, 0);
    rawSyscall('bind', fd, sa, sa.length);
  } catch (e) {
    if (e instanceof SysError && e.code === 'EADDRINUSE') throw new RestoreError('FAILED', `${why} (netlink protocol ${protocol}, port id ${portid}): the port id is taken by another netlink socket on this machine`);
    throw e;
  } finally {
    closeSync(fd);
  }
}

export const netlinkKind: FdKind = {
  type: 'NETLINKSK', field: 'nlsk', name: 'netlink sockets',
  matches: (c) => c.target.kind === 'socket' && socketFamily(c.stolen) === AF_NETLINK,
  dump(c) {
    const inode = Number((c.target as { inode: bigint }).inode);
    const me = `fd ${c.fd} of task ${c.pid} (netlink socket:[${inode}])`;
    const protocol = getIntOpt(c.stolen, SO.PROTOCOL);
    const d = diagOf(c.table, inode);
    if (d?.dumping) throw new DumpError('UNSUPPORTED', `${me} is in the middle of a netlink dump the kernel is answering: cryo cannot dump that (neither can CRIU); dump once it is read out`);
    if (pollFd(c.stolen, POLLIN, 0) & POLLIN) {
      throw new DumpError('UNSUPPORTED', `${me} has messages waiting to be read: cryo cannot dump those (neither can CRIU); dump once they are read`);
    }
    let opts = 0;
    FLAG_OPTS.forEach(([name], i) => { if (getNl(c.stolen, name) !== 0) opts |= 1 << i; });
    const type = getIntOpt(c.stolen, SO.TYPE);
    c.table.stats.push({ id: c.id, mtimeSec: 0n, mtimeNsec: 0, size: 0n, netlinkOpts: opts, socketType: type });
    return {
      id: c.id, ino: inode, protocol, state: d?.state ?? 0, flags: c.flags,
      portid: d?.portid ?? 0, groups: memberships(c.stolen), dst_portid: d?.dstPortid ?? 0, dst_group: d?.dstGroup ?? 0,
      fown: c.fown, opts: dumpSocketOpts(c.stolen, true),
    };
  },
  check(_img, e, why) {
    if (num(e.protocol) >= 32) throw new RestoreError('IMAGE_CORRUPT', `files.img: ${why} is a netlink socket of protocol ${num(e.protocol)}, above the kernel's 31`);
    if (num(e.state) === CONNECTED && num(e.dst_group) > 32) throw new RestoreError('UNSUPPORTED', `${why} is a netlink socket connected to group ${num(e.dst_group)}: connect() reaches the first 32 only`);
    if (num(e.portid) !== 0) checkPortFree(num(e.protocol), num(e.portid), why);
  },
  restore({ ctx, session, entry: e, why }) {
    const extra = session.state('cryo-files', () => readCryoFileStats(ctx.img.dir)).get(num(e.id));
    const type = extra?.socketType === SOCK_DGRAM ? SOCK_DGRAM : SOCK_RAW;
    const what = `${why} (netlink protocol ${num(e.protocol)})`;
    const fd = Number(taskCall(ctx, what, 'socket', AF_NETLINK, type, num(e.protocol)));
    const groups = ((e.groups as (number | bigint)[] | undefined) ?? []).map(Number);
    // bind() joins the first 32 groups; a socket never bound joined by setsockopt (bind would give it a port id).
    const bound = num(e.portid) !== 0;
    if (bound) {
      const sa = sockaddrNl(num(e.portid), groups[0] ?? 0);
      taskCall(ctx, `${what}, port id ${num(e.portid)}`, 'bind', fd, ctx.put(sa, 0), sa.length);
    }
    groups.forEach((word, i) => {
      if (bound && i === 0) return;
      for (let bit = 0; bit < 32; bit++) if ((word >>> bit) & 1) setNl(ctx, fd, NETLINK_ADD_MEMBERSHIP, i * 32 + bit + 1, 'NETLINK_ADD_MEMBERSHIP', what);
    });
    if (num(e.state) === CONNECTED) {
      const g = num(e.dst_group);
      const sa = sockaddrNl(num(e.dst_portid), g === 0 ? 0 : 2 ** (g - 1));
      taskCall(ctx, what, 'connect', fd, ctx.put(sa, 0), sa.length);
    }
    FLAG_OPTS.forEach(([name, label], i) => { if ((extra?.netlinkOpts ?? 0) & (1 << i)) setNl(ctx, fd, name, 1, label, what); });
    setFileFlags(ctx, fd, num(e.flags));
    restoreSocketOpts(ctx, fd, (e.opts as MessageValue | undefined) ?? {}, what);
    return fd;
  },
};
