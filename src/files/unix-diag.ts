// What the kernel tells about unix sockets through sock_diag (linux/unix_diag.h): type, state,
// peer inode, bound name, queue lengths, shutdown state, and a listener's in-flight connections
// (the inodes of the clients whose connections wait in its accept queue: "icons").
import { NLM_F_DUMP, SOCK_DIAG_BY_FAMILY, parseAttrs, readStruct, writeStruct, type NetlinkSocket, type StructLayout } from '../sys/netlink.js';
import { readU32 } from '../sys/native-endian.js';

const AF_UNIX = 1;

const UNIX_DIAG_REQ: StructLayout<'family' | 'protocol' | 'states' | 'ino' | 'show' | 'cookie0' | 'cookie1'> = {
  size: 24,
  fields: { family: [0, 'u8'], protocol: [1, 'u8'], states: [4, 'u32'], ino: [8, 'u32'], show: [12, 'u32'], cookie0: [16, 'u32'], cookie1: [20, 'u32'] },
};
const UNIX_DIAG_MSG: StructLayout<'family' | 'type' | 'state' | 'ino'> = {
  size: 16, fields: { family: [0, 'u8'], type: [1, 'u8'], state: [2, 'u8'], ino: [4, 'u32'] },
};
/** udiag_show bits and the attributes they bring. */
const UDIAG_SHOW = { NAME: 0x1, VFS: 0x2, PEER: 0x4, ICONS: 0x8, RQLEN: 0x10 } as const;
const UNIX_DIAG = { NAME: 0, VFS: 1, PEER: 2, ICONS: 3, RQLEN: 4, SHUTDOWN: 6 } as const;
const SHOW_ALL = UDIAG_SHOW.NAME | UDIAG_SHOW.VFS | UDIAG_SHOW.PEER | UDIAG_SHOW.ICONS | UDIAG_SHOW.RQLEN;
/** sock_diag's "any cookie" for an exact lookup by inode. */
const NO_COOKIE = 0xffffffff;

export const TCP_ESTABLISHED = 1;
export const TCP_CLOSE = 7;
export const TCP_LISTEN = 10;

export interface UnixSkDiag {
  ino: number;
  type: number;
  state: number;
  /** The peer's inode; 0 for none (or a connection not accepted yet). */
  peer: number;
  /** The bound name as the kernel keeps it (abstract names start with NUL); empty when unbound. */
  name: Buffer;
  /** The bound socket file: device and inode (path names only). */
  vfs?: { ino: number; dev: number };
  /** Listening sockets: the clients' inodes of the connections waiting to be accepted. */
  icons: number[];
  /** Bytes (a listener: connections) queued to read, and bytes sent not yet read (a listener: its backlog). */
  rqlen: number;
  wqlen: number;
  /** RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2, as sk_shutdown in the image. */
  shutdown: number;
}

const u32 = readU32;

/** One unix_diag_msg answer with its attributes. */
export function parseUnixDiag(payload: Buffer): UnixSkDiag {
  const m = readStruct(UNIX_DIAG_MSG, payload);
  const a = parseAttrs(payload, UNIX_DIAG_MSG.size);
  const vfs = a.get(UNIX_DIAG.VFS);
  const rq = a.get(UNIX_DIAG.RQLEN);
  const icons = a.get(UNIX_DIAG.ICONS);
  return {
    ino: m.ino,
    type: m.type,
    state: m.state,
    peer: a.has(UNIX_DIAG.PEER) ? u32(a.get(UNIX_DIAG.PEER)!, 0) : 0,
    name: Buffer.from(a.get(UNIX_DIAG.NAME) ?? Buffer.alloc(0)),
    ...(vfs ? { vfs: { ino: u32(vfs, 0), dev: u32(vfs, 4) } } : {}),
    icons: icons ? Array.from({ length: icons.length / 4 }, (_, i) => u32(icons, i * 4)) : [],
    rqlen: rq ? u32(rq, 0) : 0,
    wqlen: rq ? u32(rq, 4) : 0,
    shutdown: a.get(UNIX_DIAG.SHUTDOWN)?.readUInt8(0) ?? 0,
  };
}

/** The unix socket with inode `ino` (in cryo's network namespace), or undefined when there is none. */
export function unixSocket(nl: NetlinkSocket, ino: number): UnixSkDiag | undefined {
  const req = writeStruct(UNIX_DIAG_REQ, { family: AF_UNIX, states: 0xffffffff, ino, show: SHOW_ALL, cookie0: NO_COOKIE, cookie1: NO_COOKIE });
  try {
    const [m] = nl.request(SOCK_DIAG_BY_FAMILY, 0, req, `sock_diag(unix socket:[${ino}])`);
    return m ? parseUnixDiag(m.payload) : undefined;
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Every listening unix socket, with its in-flight connections. */
export function unixListeners(nl: NetlinkSocket): UnixSkDiag[] {
  const req = writeStruct(UNIX_DIAG_REQ, { family: AF_UNIX, states: 1 << TCP_LISTEN, show: SHOW_ALL });
  return nl.request(SOCK_DIAG_BY_FAMILY, NLM_F_DUMP, req, 'sock_diag(dump of listening unix sockets)').map((m) => parseUnixDiag(m.payload));
}
