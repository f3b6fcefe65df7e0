/**
 * Netlink from cryo's own process: a NETLINK_SOCK_DIAG socket (or any other netlink protocol),
 * one request, every answer. The message layouts (nlmsghdr, nlattr, nlmsgerr, sockaddr_nl) are
 * data below, read and written in the host's byte order as netlink wants; family-specific
 * requests (unix_diag_req, inet_diag_req_v2, ...) are described the same way by their users.
 */
import { closeSync } from 'node:fs';
import { readI32, readU16, readU32, writeI32, writeU16, writeU32 } from './native-endian.js';
import { rawSyscall } from './raw.js';
import { SysError, errnoName } from './errno.js';

/** A C struct as data: byte size and each field's offset and width. */
export interface StructLayout<F extends string> {
  readonly size: number;
  readonly fields: { readonly [K in F]: readonly [offset: number, type: 'u8' | 'u16' | 'u32' | 'i32'] };
}

export function readStruct<F extends string>(layout: StructLayout<F>, buf: Buffer, at = 0): Record<F, number> {
  const out = {} as Record<F, number>;
  for (const [name, [off, type]] of Object.entries(layout.fields) as [F, [number, string]][]) {
    const p = at + off;
    out[name] = type === 'u8' ? buf.readUInt8(p)
      : type === 'u16' ? readU16(buf, p) : type === 'u32' ? readU32(buf, p) : readI32(buf, p);
  }
  return out;
}

export function writeStruct<F extends string>(layout: StructLayout<F>, values: Partial<Record<F, number>>, buf = Buffer.alloc(layout.size), at = 0): Buffer {
  for (const [name, [off, type]] of Object.entries(layout.fields) as [F, [number, string]][]) {
    const v = values[name] ?? 0;
    const p = at + off;
    if (type === 'u8') buf.writeUInt8(v, p);
    else if (type === 'u16') writeU16(buf, v, p);
    else if (type === 'u32') writeU32(buf, v, p);
    else writeI32(buf, v, p);
  }
  return buf;
}

/** include/uapi/linux/netlink.h */
export const NLMSGHDR: StructLayout<'len' | 'type' | 'flags' | 'seq' | 'pid'> = {
  size: 16, fields: { len: [0, 'u32'], type: [4, 'u16'], flags: [6, 'u16'], seq: [8, 'u32'], pid: [12, 'u32'] },
};
export const NLATTR: StructLayout<'len' | 'type'> = { size: 4, fields: { len: [0, 'u16'], type: [2, 'u16'] } };
const SOCKADDR_NL: StructLayout<'family' | 'pid' | 'groups'> = { size: 12, fields: { family: [0, 'u16'], pid: [4, 'u32'], groups: [8, 'u32'] } };

export const AF_NETLINK = 16;
export const NETLINK_SOCK_DIAG = 4;
/** sock_diag's one request type, for every family (linux/sock_diag.h). */
export const SOCK_DIAG_BY_FAMILY = 20;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_DUMP = 0x300;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const RECV_BUF = 64 * 1024;

export const nlAlign = (n: number): number => (n + 3) & ~3;

/** One answer: its type and its payload (after the header). */
export interface NetlinkMessage {
  readonly type: number;
  readonly flags: number;
  readonly payload: Buffer;
}

/** The attributes (struct nlattr, 4-aligned) in `buf` from `at` on, by type (the last of a type wins). */
export function parseAttrs(buf: Buffer, at: number): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let p = at; p + NLATTR.size <= buf.length;) {
    const a = readStruct(NLATTR, buf, p);
    if (a.len < NLATTR.size || p + a.len > buf.length) break;
    out.set(a.type & 0x3fff, buf.subarray(p + NLATTR.size, p + a.len));
    p += nlAlign(a.len);
  }
  return out;
}

/** A netlink socket of cryo's own, talking to the kernel. */
export class NetlinkSocket {
  private readonly fd: number;
  private seq = 1;

  constructor(readonly protocol: number) {
    this.fd = Number(rawSyscall('socket', AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol));
  }

  /**
   * Sends one request (`type`, `flags` | NLM_F_REQUEST, `payload`) and returns the kernel's
   * answers: every message up to NLMSG_DONE for a dump, else the one answer. An NLMSG_ERROR
   * with an error throws SysError naming `what`.
   */
  request(type: number, flags: number, payload: Buffer, what: string): NetlinkMessage[] {
    const seq = this.seq++;
    const msg = Buffer.alloc(NLMSGHDR.size + nlAlign(payload.length));
    writeStruct(NLMSGHDR, { len: msg.length, type, flags: flags | NLM_F_REQUEST, seq }, msg);
    payload.copy(msg, NLMSGHDR.size);
    const to = writeStruct(SOCKADDR_NL, { family: AF_NETLINK });
    rawSyscall('sendto', this.fd, msg, msg.length, 0, to, to.length);
    const dump = (flags & NLM_F_DUMP) === NLM_F_DUMP;
    const out: NetlinkMessage[] = [];
    const buf = Buffer.alloc(RECV_BUF);
    for (;;) {
      const n = Number(rawSyscall('recvfrom', this.fd, buf, buf.length, 0, null, 0));
      for (let p = 0; p + NLMSGHDR.size <= n;) {
        const h = readStruct(NLMSGHDR, buf, p);
        if (h.len < NLMSGHDR.size || p + h.len > n) break;
        const body = Buffer.from(buf.subarray(p + NLMSGHDR.size, p + h.len));
        p += nlAlign(h.len);
        if (h.seq !== seq) continue; // a late answer to an earlier request
        if (h.type === NLMSG_DONE) return out;
        if (h.type === NLMSG_ERROR) {
          const err = readI32(body, 0);
          if (err === 0) return out; // an acknowledgement
          throw new SysError(-err, what);
        }
        out.push({ type: h.type, flags: h.flags, payload: body });
        if (!dump) return out;
      }
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Runs `fn` with a NETLINK_SOCK_DIAG socket, closed after. */
export function withSockDiag<T>(fn: (nl: NetlinkSocket) => T): T {
  const nl = new NetlinkSocket(NETLINK_SOCK_DIAG);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}

// --- INET_DIAG: TCP and UDP sockets (linux/inet_diag.h) ---

/** struct inet_diag_req_v2 (the inet_diag_sockid left zero: every socket). */
const INET_DIAG_REQ_V2: StructLayout<'family' | 'protocol' | 'ext' | 'states'> = {
  size: 56, fields: { family: [0, 'u8'], protocol: [1, 'u8'], ext: [2, 'u8'], states: [4, 'u32'] },
};
/** struct inet_diag_msg without its inet_diag_sockid (ports and addresses are network order: read apart). */
const INET_DIAG_MSG: StructLayout<'family' | 'state' | 'rqueue' | 'wqueue' | 'uid' | 'inode'> = {
  size: 72, fields: { family: [0, 'u8'], state: [1, 'u8'], rqueue: [56, 'u32'], wqueue: [60, 'u32'], uid: [64, 'u32'], inode: [68, 'u32'] },
};
const INET_DIAG_SHUTDOWN = 8;

/** A TCP or UDP socket as INET_DIAG reports it. */
export interface InetDiagSocket {
  readonly family: number;
  /** TCP state number (ESTABLISHED 1 ... LISTEN 10, BOUND_INACTIVE 12); UDP: ESTABLISHED when connected, else CLOSE. */
  readonly state: number;
  readonly srcPort: number;
  readonly dstPort: number;
  /** in_addr / in6_addr bytes, network order (16 bytes; IPv4 in the first 4). */
  readonly src: Buffer;
  readonly dst: Buffer;
  /** Listening: connections not yet accepted; else bytes unread. */
  readonly rqueue: number;
  /** Listening: the backlog given to listen(); else bytes unsent. */
  readonly wqueue: number;
  readonly inode: number;
  /** sk_shutdown (RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2), where the kernel reports it. */
  readonly shutdown: number | undefined;
}

/** Every socket of `family` (AF_INET/AF_INET6) and `protocol` (IPPROTO_TCP/UDP) of cryo's network namespace. */
export function inetDiag(family: number, protocol: number): InetDiagSocket[] {
  const req = writeStruct(INET_DIAG_REQ_V2, { family, protocol, states: 0xffffffff });
  const answers = withSockDiag((nl) => nl.request(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, req, `sock_diag(INET, family ${family}, protocol ${protocol})`));
  return answers.filter((a) => a.payload.length >= INET_DIAG_MSG.size).map((a) => {
    const p = a.payload;
    const m = readStruct(INET_DIAG_MSG, p);
    const shut = parseAttrs(p, INET_DIAG_MSG.size).get(INET_DIAG_SHUTDOWN);
    return {
      family: m.family, state: m.state, srcPort: p.readUInt16BE(4), dstPort: p.readUInt16BE(6),
      src: Buffer.from(p.subarray(8, 24)), dst: Buffer.from(p.subarray(24, 40)),
      rqueue: m.rqueue, wqueue: m.wqueue, inode: m.inode,
      shutdown: shut && shut.length >= 1 ? shut.readUInt8(0) : undefined,
    };
  });
}

export { errnoName };
