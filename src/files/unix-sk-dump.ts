// Dump of a unix socket: its kernel state from sock_diag, its name through the socket's own file,
// its queue, and its peer (refused outside the dump unless --ext-unix-sk).
import { closeSync, readlinkSync, statSync } from 'node:fs';
import { rawSyscall } from '../sys/index.js';
import { withSockDiag } from '../sys/netlink.js';
import { DumpError } from '../shared/dump-error.js';
import { ZERO_FOWN } from '../shared/file-table.js';
import type { FileTable } from '../shared/file-table.js';
import { namespaceIds } from '../shared/namespaces.js';
import type { MessageValue } from '../images/value.js';
import type { DumpFd } from './kind.js';
import { num } from '../shared/constants.js';
import { TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, unixListeners, unixSocket, type UnixSkDiag } from './unix-diag.js';
import { peekQueue } from './unix-queue.js';
import { dumpSocketOpts } from './socket-opts.js';
import { walkLinks } from '../sys/safe-path.js';
import { SHUTDOWN_NAMES, SIOCUNIXFILE, SOCK_DGRAM, TYPE_NAMES, USK_EXTERN, isPathName, pathName, showName, typeName } from './unix-sk-entry.js';
import { describeHolder, holdersOf, inDump } from './unix-holders.js';

interface DumpState { externs: Map<number, number>; netNs: number }
const dumpStates = new WeakMap<FileTable, DumpState>();
function dumpState(c: DumpFd): DumpState {
  let s = dumpStates.get(c.table);
  if (!s) {
    s = { externs: new Map(), netNs: num(namespaceIds(c.pid)[1].net_ns_id) };
    dumpStates.set(c.table, s);
  }
  return s;
}

/** Mode, owner and directory of a bound path name, through the socket's own file (SIOCUNIXFILE). */
function resolveName(c: DumpFd, sk: UnixSkDiag, e: MessageValue): void {
  if (!isPathName(sk.name)) return;
  const fd = Number(rawSyscall('ioctl', c.stolen, SIOCUNIXFILE, 0));
  try {
    const st = statSync(`/proc/self/fd/${fd}`);
    e.file_perms = { mode: st.mode, uid: st.uid, gid: st.gid };
    let where = readlinkSync(`/proc/self/fd/${fd}`);
    if (where.endsWith(' (deleted)')) {
      e.deleted = true;
      where = where.slice(0, -' (deleted)'.length);
    }
    const name = pathName(sk.name);
    // Links on the way to an absolute name (/var/run -> /run): restore follows these and no other.
    if (name.startsWith('/')) walkLinks(name.slice(0, name.lastIndexOf('/')) || '/', (l, t) => { c.table.links.set(l, t); return true; });
    if (!name.startsWith('/')) {
      if (!where.endsWith(`/${name.replace(/^\.\//, '')}`)) throw new DumpError('UNSUPPORTED', `fd ${c.fd} of task ${c.pid}: the unix socket's relative name ${name} is not found under ${where}`);
      e.name_dir = where.slice(0, where.length - name.replace(/^\.\//, '').length - 1);
    }
  } finally {
    closeSync(fd);
  }
}

/** The peer of an outside socket, refused or (--ext-unix-sk) written as CRIU's external entry. */
function outsidePeer(c: DumpFd, sk: UnixSkDiag, peer: UnixSkDiag, holder: { pid: number; fd: number } | undefined): void {
  const me = `fd ${c.fd} of task ${c.pid} is a unix ${typeName(sk.type)} socket (socket:[${sk.ino}]) connected to socket:[${peer.ino}]${peer.name.length ? ` (${showName(peer.name)})` : ''}, ${describeHolder(holder)}, which is outside the dump`;
  if (!c.table.options.extUnixSk) throw new DumpError('UNSUPPORTED', `${me}: dump that process too, or use --ext-unix-sk`);
  if (peer.type !== SOCK_DGRAM || peer.name.length === 0) {
    throw new DumpError('UNSUPPORTED', `${me}: --ext-unix-sk reconnects only datagram sockets to a named peer (as CRIU); dump that process too`);
  }
  const s = dumpState(c);
  if (s.externs.has(peer.ino)) return;
  const pname = pathName(peer.name);
  if (pname.startsWith('/')) walkLinks(pname.slice(0, pname.lastIndexOf('/')) || '/', (l, t) => { c.table.links.set(l, t); return true; });
  const id = c.table.newId();
  s.externs.set(peer.ino, id);
  c.table.files.push({
    type: 'UNIXSK', id,
    usk: {
      id, ino: peer.ino, type: SOCK_DGRAM, state: TCP_LISTEN, flags: 0, uflags: USK_EXTERN, backlog: 0, peer: 0, fown: ZERO_FOWN,
      opts: { so_sndbuf: 0, so_rcvbuf: 0, so_snd_tmo_sec: 0n, so_snd_tmo_usec: 0n, so_rcv_tmo_sec: 0n, so_rcv_tmo_usec: 0n }, name: peer.name,
    },
  });
}

export function dumpUnix(c: DumpFd): MessageValue {
  const ino = Number(c.st.ino);
  const me = `fd ${c.fd} of task ${c.pid}`;
  return withSockDiag((nl) => {
    const sk = unixSocket(nl, ino);
    if (!sk) throw new DumpError('FAILED', `${me}: unix socket:[${ino}] is not known to sock_diag`);
    if (!TYPE_NAMES[sk.type]) throw new DumpError('UNSUPPORTED', `${me} is a unix socket of type ${sk.type}: cryo dumps stream, datagram and seqpacket ones`);
    if (sk.state !== TCP_ESTABLISHED && sk.state !== TCP_CLOSE && sk.state !== TCP_LISTEN) {
      throw new DumpError('UNSUPPORTED', `${me} is a unix socket in state ${sk.state} (connecting?): cryo cannot dump it`);
    }
    const e: MessageValue = {
      id: c.id, ino, type: sk.type, state: sk.state, flags: c.flags, uflags: 0, backlog: sk.wqlen, peer: sk.peer,
      fown: c.fown, opts: {}, name: sk.name,
    };
    resolveName(c, sk, e);
    if (sk.shutdown !== 0) e.shutdown = SHUTDOWN_NAMES[sk.shutdown & 3]!;
    e.ns_id = dumpState(c).netNs;
    const why = `${me} (unix socket:[${ino}])`;
    if (sk.state !== TCP_LISTEN) c.table.skQueues.push(...peekQueue(c.stolen, c.id, why, (fds) => c.inFlight(fds, why)));

    if (sk.peer !== 0) {
      const peer = unixSocket(nl, sk.peer);
      if (!peer) throw new DumpError('FAILED', `${me}: unix socket:[${ino}] is connected to socket:[${sk.peer}], which sock_diag does not know`);
      if (peer.peer !== ino && peer.name.length === 0) {
        throw new DumpError('UNSUPPORTED', `${me}: unix socket:[${ino}] is connected to socket:[${peer.ino}], which has no name and another peer: it cannot be reached again`);
      }
      const holders = holdersOf(c.table, peer.ino, c.pid);
      if (!holders.some((h) => inDump(c.table, h.pid))) outsidePeer(c, sk, peer, holders[0]);
    } else if (sk.state === TCP_ESTABLISHED && sk.type !== SOCK_DGRAM) {
      // No peer yet: a connection waiting in a listener's accept queue (or one whose peer is gone).
      const listener = unixListeners(nl).find((l) => l.icons.includes(ino));
      if (!listener) {
        if (sk.shutdown !== 3) throw new DumpError('UNSUPPORTED', `${me} is a connected unix socket (socket:[${ino}]) without a peer: cryo cannot dump it`);
      } else {
        if (sk.wqlen !== 0) throw new DumpError('UNSUPPORTED', `${me} is a unix connection not yet accepted by socket:[${listener.ino}] with data sent: cryo cannot dump that`);
        const holders = holdersOf(c.table, listener.ino, c.pid);
        if (!holders.some((h) => inDump(c.table, h.pid))) outsidePeer(c, sk, listener, holders[0]);
        e.peer = listener.ino;
      }
    } else if (sk.state === TCP_LISTEN) {
      for (const icon of sk.icons) {
        const holders = icon === 0 ? [] : holdersOf(c.table, icon, c.pid);
        if (!holders.some((h) => inDump(c.table, h.pid))) {
          throw new DumpError('UNSUPPORTED', `${me} is a unix socket listening on ${showName(sk.name)} with a connection not yet accepted from socket:[${icon}], ${describeHolder(holders[0])}, which is outside the dump: accept it first, or dump that process too`);
        }
      }
    }
    e.opts = dumpSocketOpts(c.stolen, true);
    return e;
  });
}
