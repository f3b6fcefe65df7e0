// Packet sockets (PACKETSK, file_entry.psk = packet_sock_entry, as CRIU 4.2 writes it): AF_PACKET
// SOCK_RAW and SOCK_DGRAM sockets and the old SOCK_PACKET ones, with the device and protocol they
// are bound to, TPACKET version, reserve, timestamp source, copy threshold, AUXDATA/ORIGDEV/
// VNET_HDR/LOSS, device memberships (promiscuous mode, multicast and unicast addresses, each as
// many times as it was added), the RX/TX ring layout and the fanout group. All of it from
// sock_diag (PACKET_DIAG), the socket options from getsockopt.
//
// The rings' mappings come back where they were (packet-ring.ts). Refused: a fanout group steered by a
// BPF program, and options CRIU's entry has no field for (PACKET_QDISC_BYPASS, PACKET_TX_HAS_OFF,
// PACKET_IGNORE_OUTGOING). Frames waiting in a ring or the queue are not kept (as CRIU).
import { closeSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import { DumpError } from '../shared/dump-error.js';
import type { FileTable } from '../shared/file-table.js';
import { RestoreError } from '../shared/restore-error.js';
import { num } from '../shared/constants.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { rawSyscall, readU16, readU32, writeI32, writeU16, writeU32 } from '../sys/index.js';
import { SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, parseAttrs, readStruct, withSockDiag, writeStruct, type StructLayout } from '../sys/netlink.js';
import type { FdKind } from './kind.js';
import { setFileFlags, taskCall } from './anon.js';
import { dumpSocketOpts, restoreSocketOpts, socketFamily } from './socket-opts.js';
import { claimPacketRings, mapPacketRings, packetRingsOf } from './packet-ring.js';

const AF_PACKET = 17;
const SOCK_PACKET = 10;
const SOL_PACKET = 263;
const O = {
  ADD_MEMBERSHIP: 1, RX_RING: 5, COPY_THRESH: 7, AUXDATA: 8, ORIGDEV: 9, VERSION: 10, RESERVE: 12, TX_RING: 13, LOSS: 14,
  VNET_HDR: 15, TIMESTAMP: 17, FANOUT: 18, TX_HAS_OFF: 19, QDISC_BYPASS: 20, IGNORE_OUTGOING: 23,
};
/** Options with no field in packet_sock_entry: refused when set. */
const UNKEPT: [number, string][] = [[O.QDISC_BYPASS, 'PACKET_QDISC_BYPASS'], [O.TX_HAS_OFF, 'PACKET_TX_HAS_OFF'], [O.IGNORE_OUTGOING, 'PACKET_IGNORE_OUTGOING']];
/** struct packet_diag_req: every socket, with info, memberships, rings and fanout. */
const DIAG_REQ: StructLayout<'family' | 'show'> = { size: 20, fields: { family: [0, 'u8'], show: [8, 'u32'] } };
const SHOW = 0x1 | 0x2 | 0x4 | 0x8;
/** struct packet_diag_msg (pdiag_num: the protocol, host order). */
const DIAG_MSG: StructLayout<'type' | 'num' | 'ino'> = { size: 16, fields: { type: [1, 'u8'], num: [2, 'u16'], ino: [4, 'u32'] } };
const A = { INFO: 0, MCLIST: 1, RX_RING: 2, TX_RING: 3, FANOUT: 4 };
const INFO: StructLayout<'index' | 'version' | 'reserve' | 'copyThresh' | 'tstamp' | 'flags'> = {
  size: 24, fields: { index: [0, 'u32'], version: [4, 'u32'], reserve: [8, 'u32'], copyThresh: [12, 'u32'], tstamp: [16, 'u32'], flags: [20, 'u32'] },
};
const PDI = { AUXDATA: 0x2, ORIGDEV: 0x4, VNETHDR: 0x8, LOSS: 0x10 };
/** struct packet_diag_mclist: index, count, type, alen, addr[32]. */
const MCLIST_SIZE = 44;
const RING_FIELDS = ['block_size', 'block_nr', 'frame_size', 'frame_nr', 'retire_tmo', 'sizeof_priv', 'features'] as const;
const FANOUT_CBPF = 6;
const FANOUT_EBPF = 7;
const FANOUT_UNIQUEID = 0x2000 << 16;

interface PacketDiag { type: number; num: number; attrs: Map<number, Buffer> }

const diagCache = new WeakMap<FileTable, Map<number, PacketDiag>>();
function diagOf(table: FileTable, inode: number): PacketDiag | undefined {
  let m = diagCache.get(table);
  if (!m) {
    m = new Map();
    const req = writeStruct(DIAG_REQ, { family: AF_PACKET, show: SHOW });
    for (const a of withSockDiag((nl) => nl.request(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, req, 'sock_diag(PACKET)'))) {
      if (a.payload.length < DIAG_MSG.size) continue;
      const d = readStruct(DIAG_MSG, a.payload);
      m.set(d.ino, { type: d.type, num: d.num, attrs: parseAttrs(a.payload, DIAG_MSG.size) });
    }
    diagCache.set(table, m);
  }
  return m.get(inode);
}

const ring = (b: Buffer | undefined): MessageValue | undefined => (b ? Object.fromEntries(RING_FIELDS.map((f, i) => [f, readU32(b, i * 4)])) : undefined);

function getPkt(fd: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  writeU32(len, 4, 0);
  rawSyscall('getsockopt', fd, SOL_PACKET, name, v, len);
  return readU32(v, 0);
}

/** The protocol as socket() takes it (network order, read as a host number: htons), from sock_diag's host-order one. */
function htons(v: number): number {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v, 0);
  return readU16(b, 0);
}

function setPkt(ctx: TaskCtx, fd: number, name: number, v: number | Buffer, what: string, why: string): void {
  let b = v as Buffer;
  if (typeof v === 'number') {
    b = Buffer.alloc(4);
    writeI32(b, v, 0);
  }
  const r = ctx.raw('setsockopt', fd, SOL_PACKET, name, ctx.put(b, 0), b.length);
  if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from setsockopt(${what}) restoring ${why}`);
}

/** The device name of interface `index` on this machine (SIOCGIFNAME), for binding a SOCK_PACKET socket. */
function ifName(index: number, why: string): string {
  const fd = Number(rawSyscall('socket', AF_PACKET, SOCK_PACKET | 0o2000000, 0));
  try {
    const ifr = Buffer.alloc(40);
    writeI32(ifr, index, 16);
    rawSyscall('ioctl', fd, 0x8910 /* SIOCGIFNAME */, ifr);
    return ifr.toString('latin1', 0, 16).replace(/\0.*$/s, '');
  } catch {
    throw new RestoreError('FAILED', `${why} was bound to network interface ${index}, which this machine does not have`);
  } finally {
    closeSync(fd);
  }
}

export const packetKind: FdKind = {
  type: 'PACKETSK', field: 'psk', name: 'packet sockets',
  matches: (c) => c.target.kind === 'socket' && socketFamily(c.stolen) === AF_PACKET,
  dump(c) {
    const inode = Number((c.target as { inode: bigint }).inode);
    const me = `fd ${c.fd} of task ${c.pid} (packet socket:[${inode}])`;
    const d = diagOf(c.table, inode);
    if (!d || !d.attrs.has(A.INFO)) throw new DumpError('FAILED', `${me}: sock_diag does not list it (another network namespace?)`);
    const info = readStruct(INFO, d.attrs.get(A.INFO)!);
    const e: MessageValue = {
      id: c.id, type: d.type, protocol: htons(d.num), flags: c.flags, ifindex: info.index, fown: c.fown,
      opts: dumpSocketOpts(c.stolen, false), version: info.version, reserve: info.reserve,
      aux_data: (info.flags & PDI.AUXDATA) !== 0, orig_dev: (info.flags & PDI.ORIGDEV) !== 0,
      vnet_hdr: (info.flags & PDI.VNETHDR) !== 0, loss: (info.flags & PDI.LOSS) !== 0,
      timestamp: info.tstamp, copy_thresh: info.copyThresh, mclist: [],
    };
    if (d.type !== SOCK_PACKET) {
      for (const [name, what] of UNKEPT) if (getPkt(c.stolen, name) !== 0) throw new DumpError('UNSUPPORTED', `${me} has ${what} set: cryo cannot dump that yet (CRIU's image has no field for it)`);
    }
    const mc = d.attrs.get(A.MCLIST) ?? Buffer.alloc(0);
    for (let at = 0; at + MCLIST_SIZE <= mc.length; at += MCLIST_SIZE) {
      const alen = readU16(mc, at + 10);
      const m = { index: readU32(mc, at), type: readU16(mc, at + 8), addr: Buffer.from(mc.subarray(at + 12, at + 12 + Math.min(alen, 32))) };
      // Added `count` times, it must be dropped as many times: one entry each.
      for (let k = 0; k < readU32(mc, at + 4); k++) (e.mclist as MessageValue[]).push({ ...m });
    }
    const rx = ring(d.attrs.get(A.RX_RING));
    const tx = ring(d.attrs.get(A.TX_RING));
    if (rx) e.rx_ring = rx;
    if (tx) e.tx_ring = tx;
    const fanout = d.attrs.get(A.FANOUT);
    if (fanout) {
      const f = readU32(fanout, 0);
      const type = (f >>> 16) & 0xff;
      if (type === FANOUT_CBPF || type === FANOUT_EBPF) throw new DumpError('UNSUPPORTED', `${me} is in a fanout group steered by a BPF program: cryo cannot dump that yet (neither can CRIU)`);
      // A group id the kernel picked (PACKET_FANOUT_FLAG_UNIQUEID) is asked for by number again.
      e.fanout = (f & ~FANOUT_UNIQUEID) >>> 0;
    }
    if (claimPacketRings(c.table, c.pid, BigInt(inode), c.id) > 0 && !rx && !tx) throw new DumpError('FAILED', `${me} is mapped but has no ring`);
    return e;
  },
  check(img, e, why) {
    if (packetRingsOf(img, num(e.id)).length > 0 && !e.rx_ring && !e.tx_ring) throw new RestoreError('IMAGE_INCONSISTENT', `${why} is a packet socket mapped in the task, without a ring to map`);
    if (num(e.type) === SOCK_PACKET && num(e.ifindex) > 0) ifName(num(e.ifindex), why);
    for (const m of (e.mclist as MessageValue[] | undefined) ?? []) {
      if (Buffer.isBuffer(m.addr) && m.addr.length > 32) throw new RestoreError('IMAGE_CORRUPT', `files.img: ${why} has a membership address of ${m.addr.length} bytes (32 at most)`);
    }
  },
  restore({ ctx, entry: e, why }) {
    const type = num(e.type);
    const what = `${why} (packet socket, type ${type})`;
    const fd = Number(taskCall(ctx, what, 'socket', AF_PACKET, type, num(e.protocol)));
    if (type === SOCK_PACKET) {
      if (num(e.ifindex) > 0) {
        // struct sockaddr with the device name in sa_data.
        const sa = Buffer.alloc(16);
        writeU16(sa, AF_PACKET, 0);
        sa.write(ifName(num(e.ifindex), what).slice(0, 13), 2, 'latin1');
        taskCall(ctx, what, 'bind', fd, ctx.put(sa, 0), sa.length);
      }
    } else {
      // struct sockaddr_ll: protocol 0 keeps the socket's, ifindex 0 is every device.
      const sll = Buffer.alloc(20);
      writeU16(sll, AF_PACKET, 0);
      writeI32(sll, num(e.ifindex), 4);
      taskCall(ctx, what, 'bind', fd, ctx.put(sll, 0), sll.length);
      setPkt(ctx, fd, O.VERSION, num(e.version), 'PACKET_VERSION', what);
      setPkt(ctx, fd, O.RESERVE, num(e.reserve), 'PACKET_RESERVE', what);
      setPkt(ctx, fd, O.TIMESTAMP, num(e.timestamp), 'PACKET_TIMESTAMP', what);
      setPkt(ctx, fd, O.COPY_THRESH, num(e.copy_thresh), 'PACKET_COPY_THRESH', what);
      for (const [field, name, label] of [['aux_data', O.AUXDATA, 'PACKET_AUXDATA'], ['orig_dev', O.ORIGDEV, 'PACKET_ORIGDEV'], ['vnet_hdr', O.VNET_HDR, 'PACKET_VNET_HDR'], ['loss', O.LOSS, 'PACKET_LOSS']] as const) {
        if (e[field] === true) setPkt(ctx, fd, name, 1, label, what);
      }
      for (const m of (e.mclist as MessageValue[] | undefined) ?? []) {
        // struct packet_mreq with room for MAX_ADDR_LEN (32) bytes of address.
        const addr = Buffer.isBuffer(m.addr) ? m.addr : Buffer.alloc(0);
        const mreq = Buffer.alloc(40);
        writeI32(mreq, num(m.index), 0);
        writeU16(mreq, num(m.type), 4);
        writeU16(mreq, addr.length, 6);
        addr.copy(mreq, 8);
        setPkt(ctx, fd, O.ADD_MEMBERSHIP, mreq, 'PACKET_ADD_MEMBERSHIP', what);
      }
      for (const [field, name, label] of [['rx_ring', O.RX_RING, 'PACKET_RX_RING'], ['tx_ring', O.TX_RING, 'PACKET_TX_RING']] as const) {
        const r = e[field] as MessageValue | undefined;
        if (!r) continue;
        const req = Buffer.alloc(28);
        RING_FIELDS.forEach((f, i) => writeU32(req, num(r[f]), i * 4));
        setPkt(ctx, fd, name, req, label, what);
      }
      if (e.fanout !== undefined && num(e.fanout) !== 0xffffffff) setPkt(ctx, fd, O.FANOUT, num(e.fanout), 'PACKET_FANOUT', what);
      mapPacketRings(ctx, fd, num(e.id), what);
    }
    setFileFlags(ctx, fd, num(e.flags));
    restoreSocketOpts(ctx, fd, (e.opts as MessageValue | undefined) ?? {}, what);
    return fd;
  },
};
