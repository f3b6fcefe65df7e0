// TCP, UDP, ping and raw sockets, IPv4 and IPv6 (INETSK, file_entry.isk = inet_sk_entry), as CRIU
// 4.2 writes them (ping and raw sockets' own parts: inet-raw.ts): unbound, bound, listening (with its backlog), connected UDP, and, with --tcp-established,
// established, half-closed and ended (CLOSE) TCP connections through TCP repair (tcp-repair.ts,
// tcp-fin.ts, tcp-ended.ts, tcp-stream-INODE.img). With --tcp-close (as CRIU's), connections are
// dumped without repair and restored closed and unbound.
// State comes from sock_diag (state, backlog, pending connections, shutdown) and from getsockname,
// getpeername and getsockopt on cryo's copy of the socket. UDP datagrams waiting to be read are
// not kept (as CRIU: a datagram may be lost anyway).
//
// Restore makes the socket in the task with SO_REUSEADDR and SO_REUSEPORT on (as CRIU), so that a
// listener and the connections it accepted can each bind their shared port, in any order; once
// every descriptor exists the dumped values come back and connections leave repair mode.
import path from 'node:path';
import { DumpError } from '../shared/dump-error.js';
import type { FileTable } from '../shared/file-table.js';
import { imageFileName } from '../images/names.js';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { rawSyscall } from '../sys/index.js';
import { socketFds } from '../proc/index.js';
import { inetDiag, type InetDiagSocket } from '../sys/netlink.js';
import type { DumpFd, FdKind } from './kind.js';
import * as K from './inet-consts.js';
import { addrOf, addrText, addrWords, endedPeer, sockName, sockaddr, type InetAddr } from './inet-addr.js';
import { bindsFree, checkBindable, freebind, freebindOpt } from './inet-bind.js';
import { restoreEnded } from './tcp-ended.js';
import { readCryoFileStats } from '../images/cryo-image.js';
import {
  dumpIpOpts, dumpSkOpts, dumpTcpOpts, getInt, restoreIpOpts, restoreSkOpts, restoreTcpOpts, setOpt, socketFilter, socketFilterLength, MAX_FILTER_INSNS,
} from './inet-opts.js';
import { enterRepair, holdUntilDumpEnds, leaveRepair, readTcpStream, restoreTcpStream, sendUnsent, type TcpStream } from './tcp-repair.js';
import { setFileFlags, taskCall } from './anon.js';
import { finsOf, replayFins } from './tcp-fin.js';
import { connectionEnds, connectionKey, lockAhead, lockConnection, networkLockFor, peerKey, queueUnlock, releaseLocks, unlockQueued } from './tcp-lock.js';
import { num } from '../shared/constants.js';
import { writeU32 } from '../sys/native-endian.js';
import { dumpRawOpts, isPing, isRawOrPing, pollShutdown, rawPingState, restoreRawOpts } from './inet-raw.js';
import { guardTcpRepair } from '../sys/guardian.js';

const SHUTDOWN_NAMES = ['NONE', 'READ', 'WRITE', 'BOTH'];
/** sk_shutdown image value -> shutdown(2)'s how (SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2). */
const SHUT_HOW: Record<string, number> = { READ: 0, WRITE: 1, BOTH: 2 };

/**
 * What of sk_shutdown restore applies with shutdown(2): a connection's FINs are replayed instead
 * (our FIN is the send side's shutdown, the peer's FIN the receive side's).
 */
function shutdownLeft(e: MessageValue, conn: boolean): string {
  const how = String(e.shutdown ?? 'NONE');
  if (!conn) return how;
  const fins = finsOf(num(e.state))!;
  const rd = (how === 'READ' || how === 'BOTH') && !fins.received;
  return rd ? 'READ' : 'NONE';
}

const familyName = (f: number) => (f === K.AF_INET6 ? 'IPv6' : 'IPv4');
const protoName = (p: number, type = K.SOCK_STREAM) => (type === K.SOCK_RAW ? `raw (protocol ${p})` : isPing(type, p) ? 'ping'
  : p === K.IPPROTO_TCP ? 'TCP' : p === K.IPPROTO_UDPLITE ? 'UDP-Lite' : 'UDP');
/** UDP and UDP-Lite: datagram sockets the kernel runs alike (UDP-Lite only adds checksum coverage options). */
const isUdp = (type: number, proto: number) => type === K.SOCK_DGRAM && (proto === K.IPPROTO_UDP || proto === K.IPPROTO_UDPLITE);

/** sock_diag's sockets of one family and protocol, asked once per dump. */
const diagCache = new WeakMap<FileTable, Map<string, Map<number, InetDiagSocket>>>();
function diagOf(table: FileTable, family: number, proto: number, inode: number): InetDiagSocket | undefined {
  let m = diagCache.get(table);
  if (!m) diagCache.set(table, (m = new Map()));
  const key = `${family}/${proto}`;
  let byInode = m.get(key);
  if (!byInode) {
    byInode = new Map(inetDiag(family, proto).map((s) => [s.inode, s]));
    m.set(key, byInode);
  }
  return byInode.get(inode);
}

/**
 * Locks the process's TCP connections that sock_diag knows (established or half-closed) together
 * at its first (tcp-lock.ts lockAhead); the others, as ended ones, each at its own turn.
 */
const lockedAhead = new WeakMap<FileTable, Set<number>>();
function lockProcessAhead(c: DumpFd): void {
  let pids = lockedAhead.get(c.table);
  if (!pids) lockedAhead.set(c.table, (pids = new Set()));
  if (pids.has(c.pid)) return;
  pids.add(c.pid);
  const inodes = [...socketFds(c.pid).keys()];
  const conns: { family: number; src: InetAddr; dst: InetAddr }[] = [];
  for (const family of [K.AF_INET, K.AF_INET6]) {
    const len = family === K.AF_INET ? 4 : 16;
    for (const inode of inodes) {
      const d = diagOf(c.table, family, K.IPPROTO_TCP, inode);
      if (!d || d.dstPort === 0 || !finsOf(d.state)) continue;
      conns.push({ family, src: { port: d.srcPort, addr: d.src.subarray(0, len) }, dst: { port: d.dstPort, addr: d.dst.subarray(0, len) } });
    }
  }
  lockAhead(c.table, conns);
}

function socketDomain(c: DumpFd): number | undefined {
  if (c.target.kind !== 'socket') return undefined;
  try {
    return getInt(c.stolen, K.SOL_SOCKET, K.SO_DOMAIN);
  } catch {
    return undefined;
  }
}

function dumpInet(c: DumpFd): MessageValue {
  const family = socketDomain(c)!;
  const type = getInt(c.stolen, K.SOL_SOCKET, K.SO_TYPE);
  const proto = getInt(c.stolen, K.SOL_SOCKET, K.SO_PROTOCOL);
  const me = `fd ${c.fd} of task ${c.pid}`;
  const tcp = type === K.SOCK_STREAM && proto === K.IPPROTO_TCP;
  const udp = isUdp(type, proto);
  const rawPing = isRawOrPing(type, proto);
  if (!tcp && !udp && !rawPing) {
    throw new DumpError('UNSUPPORTED', `${me} is an ${familyName(family)} socket of type ${type}, protocol ${proto}: cryo dumps TCP, UDP, ping and raw sockets only`);
  }
  if (udp && getInt(c.stolen, K.SOL_UDP, K.UDP_CORK) !== 0) {
    throw new DumpError('UNSUPPORTED', `${me} is a corked UDP socket (UDP_CORK): cryo cannot dump it (neither can CRIU)`);
  }
  if (socketFilterLength(c.stolen) > MAX_FILTER_INSNS) {
    throw new DumpError('UNSUPPORTED', `${me} has a socket filter (SO_ATTACH_FILTER) of ${socketFilterLength(c.stolen)} instructions: cryo restores at most ${MAX_FILTER_INSNS}`);
  }
  const inode = Number((c.target as { inode: bigint }).inode);
  const src = sockName(c.stolen, family, false);
  let dst = sockName(c.stolen, family, true);
  const diag = rawPing ? undefined : diagOf(c.table, family, proto, inode);
  let state = diag?.state ?? K.TCP_CLOSE;
  if (rawPing) ({ state, dst } = rawPingState(c.table, c.pid, family, type, inode));
  if (state === K.TCP_BOUND_INACTIVE) state = K.TCP_CLOSE;
  if (!diag && tcp) state = getOpt1(c.stolen);
  // A connection that ended leaves its socket in CLOSE, still knowing its peer.
  const ended = tcp && !dst && state === K.TCP_CLOSE && (dst = endedPeer(c.stolen, family)) !== undefined;
  const what = `${me} (${protoName(proto, type)} ${src ? addrText(family, src) : 'unbound'}${dst ? ` -> ${addrText(family, dst)}` : ''})`;
  if (family === K.AF_INET6 && src && (src.addr.readUInt16BE(0) & 0xffc0) === 0xfe80) {
    throw new DumpError('UNSUPPORTED', `${what} is bound to a link-local IPv6 address: cryo cannot dump that yet`);
  }
  let backlog = 0;
  if (tcp && state === K.TCP_LISTEN) {
    if (diag!.rqueue > 0) {
      throw new DumpError('UNSUPPORTED', `${what} is listening with ${diag!.rqueue} connection(s) not yet accepted: cryo cannot dump those (neither can CRIU); dump once they are accepted`);
    }
    backlog = diag!.wqueue;
  }
  if (tcp && !dst && diag && diag.dstPort !== 0 && state !== K.TCP_LISTEN && state !== K.TCP_CLOSE) {
    // getpeername says ENOTCONN while a connect() is under way (SYN_SENT, SYN_RECV).
    throw new DumpError('UNSUPPORTED', `${what} is connecting (state ${K.TCP_STATE_NAMES[state] ?? state}): cryo cannot dump a connection before it is established; dump once connect() has returned`);
  }
  const connection = tcp && dst !== undefined;
  let stream: TcpStream | undefined;
  if (connection) {
    const name = `the TCP connection ${addrText(family, src!)} -> ${addrText(family, dst!)} (${me})`;
    if (!finsOf(state) && !ended) {
      throw new DumpError('UNSUPPORTED', `${name} is in state ${K.TCP_STATE_NAMES[state] ?? state}: cryo dumps established, half-closed and ended connections only`);
    }
    // sock_diag lists a closed socket only while it holds its port (BOUND_INACTIVE).
    if (ended && !diag) c.table.stats.push({ id: c.id, mtimeSec: 0n, mtimeNsec: 0, size: 0n, tcpPortReleased: true });
  }
  if (connection && !c.table.options.tcpClose) {
    const name = `the TCP connection ${addrText(family, src!)} -> ${addrText(family, dst!)} (${me})`;
    if (!c.table.options.tcpEstablished) {
      const how = state === K.TCP_ESTABLISHED ? 'established' : ended ? 'closed (its connection ended)' : `half-closed (${K.TCP_STATE_NAMES[state]})`;
      throw new DumpError('UNSUPPORTED', `${name} is ${how}: pass --tcp-established (tcpEstablished) to dump it with TCP repair, or --tcp-close to restore it closed`);
    }
    // Should cryo die before the dump ends, the guard takes the socket out of repair mode (after the lock, made later, is gone).
    const guarded = guardTcpRepair(c.pid, c.fd);
    if (networkLockFor(c.table, c.table.options.networkLock) === 'iptables') {
      // Before repair mode, and undone first if the task runs on (then leaving repair mode sends its
      // window), or when the tree holds the peer too.
      lockProcessAhead(c);
      lockConnection(c.table, family, src!, dst!, name);
      const dumped = connectionEnds(c.table);
      dumped.add(connectionKey(family, src!, dst!));
      c.table.finishers.push((taskRunsOn) => releaseLocks(c.table, (l) => taskRunsOn || dumped.has(peerKey(l.family, l.src, l.dst))));
    }
    enterRepair(c.stolen, name);
    // Held (and frozen) from now on, whatever happens next: the dump's end decides (see holdUntilDumpEnds).
    c.table.finishers.push(holdUntilDumpEnds(c.stolen, guarded));
    const read = readTcpStream(c.stolen, name);
    stream = read;
    // The state in repair mode, where it no longer moves (sock_diag's may be older).
    state = read.state;
    c.table.images.push({ key: 'tcpStream', id: inode, magic: 'TCP_STREAM', entries: [{ value: stream.entry, extra: { inq: stream.inq, outq: stream.outq } }] });
  }
  const ie: MessageValue = {
    id: c.id, ino: inode, family, type, proto, state,
    src_port: src?.port ?? 0, dst_port: dst?.port ?? 0,
    flags: c.flags, backlog,
    src_addr: addrWords(family, src?.addr), dst_addr: addrWords(family, dst?.addr),
    fown: c.fown, opts: withFilter(dumpSkOpts(c.stolen), socketFilter(c.stolen)),
  };
  if (family === K.AF_INET6) ie.v6only = getInt(c.stolen, K.SOL_IPV6, K.IPV6_V6ONLY) !== 0;
  ie.ip_opts = dumpIpOpts(c.stolen, family);
  if (type === K.SOCK_RAW) (ie.ip_opts as MessageValue).raw = dumpRawOpts(c.stolen, family, proto, what);
  const shut = diag?.shutdown ?? (rawPing ? pollShutdown(c.stolen) : 0);
  if (shut !== 0) ie.shutdown = SHUTDOWN_NAMES[shut & 3]!;
  ie.tcp_opts = tcp ? dumpTcpOpts(c.stolen) : {};
  return ie;
}

/** The TCP state of a socket sock_diag does not list (unbound): from TCP_INFO, which must say CLOSE. */
function getOpt1(fd: number): number {
  const b = Buffer.alloc(1);
  const len = Buffer.alloc(4);
  writeU32(len, 1, 0);
  rawSyscall('getsockopt', fd, K.SOL_TCP, K.TCP_INFO, b, len);
  return b[0]!;
}

/** Whether the image entry is a TCP connection (restored through repair, or closed with --tcp-close). */
const isConnection = (e: MessageValue) => num(e.type) === K.SOCK_STREAM && num(e.proto) === K.IPPROTO_TCP && num(e.dst_port) !== 0;
/** A datagram or raw socket connected to its peer (a raw or ping socket's peer port may be 0). */
const connectsTo = (e: MessageValue) => num(e.dst_port) !== 0 || (isRawOrPing(num(e.type), num(e.proto)) && num(e.state) === K.TCP_ESTABLISHED);
/** A connection that had ended (its socket in CLOSE, still knowing its peer). */
const isEnded = (e: MessageValue) => isConnection(e) && num(e.state) === K.TCP_CLOSE;

function describe(e: MessageValue): string {
  const f = num(e.family);
  const dst = num(e.dst_port) !== 0 ? ` -> ${addrText(f, addrOf(e, 'dst'))}` : '';
  return `${protoName(num(e.proto), num(e.type))} ${num(e.src_port) !== 0 ? addrText(f, addrOf(e, 'src')) : 'unbound'}${dst}`;
}

function streamOf(img: RestoreImages, e: MessageValue): { file: string; stream?: TcpStream } {
  const file = imageFileName('tcpStream', num(e.ino));
  const first = img.all.get(file)?.entries[0];
  if (!first) return { file };
  const q = first.extra as { inq: Buffer; outq: Buffer } | undefined;
  return { file, stream: { entry: first.value, inq: q?.inq ?? Buffer.alloc(0), outq: q?.outq ?? Buffer.alloc(0) } };
}

/** sk_opts with the socket's filter, where it has one (CRIU writes none otherwise). */
const withFilter = (o: MessageValue, filter: bigint[]): MessageValue => (filter.length > 0 ? { ...o, so_filter: filter } : o);

export const inetKind: FdKind = {
  type: 'INETSK', field: 'isk', name: 'TCP, UDP, ping and raw sockets',
  matches: (c) => {
    const d = socketDomain(c);
    return d === K.AF_INET || d === K.AF_INET6;
  },
  dump: dumpInet,
  check(img, e, why) {
    const f = num(e.family);
    if (f !== K.AF_INET && f !== K.AF_INET6) throw new RestoreError('UNSUPPORTED', `${why} is an inet socket of family ${f}: cryo restores IPv4 and IPv6 only`);
    const tcp = num(e.type) === K.SOCK_STREAM && num(e.proto) === K.IPPROTO_TCP;
    const udp = isUdp(num(e.type), num(e.proto));
    const rawPing = isRawOrPing(num(e.type), num(e.proto));
    if (!tcp && !udp && !rawPing) throw new RestoreError('UNSUPPORTED', `${why} is an inet socket of type ${num(e.type)}, protocol ${num(e.proto)}: cryo restores TCP, UDP, ping and raw sockets only`);
    const words = f === K.AF_INET ? 1 : 4;
    for (const a of ['src_addr', 'dst_addr']) {
      const n = ((e[a] as unknown[] | undefined) ?? []).length;
      if (f === K.AF_INET ? n < words : n !== words) throw new RestoreError('IMAGE_INCONSISTENT', `files.img: ${why} has ${n} words in ${a}, ${words} expected for ${familyName(f)}`);
    }
    const closing = isConnection(e) && img.fdOptions?.tcpClose === true;
    if (isConnection(e) && !closing) {
      if (!finsOf(num(e.state)) && !isEnded(e)) throw new RestoreError('UNSUPPORTED', `${why} is a TCP connection (${describe(e)}) in state ${K.TCP_STATE_NAMES[num(e.state)] ?? num(e.state)}: cryo restores established, half-closed and ended connections only`);
      if (!img.fdOptions?.tcpEstablished) {
        throw new RestoreError('UNSUPPORTED', `${why} is ${isEnded(e) ? 'a closed' : 'an established'} TCP connection (${describe(e)}): restore it with --tcp-established (tcpEstablished), or --tcp-close to restore it closed`);
      }
      const { file, stream } = streamOf(img, e);
      if (!stream) throw new RestoreError('IMAGE_MISSING', `${path.join(img.dir, file)} is missing: ${why} (${describe(e)}) has no TCP queues and sequence numbers (dumped with --tcp-close? restore it with --tcp-close)`);
      if (stream.entry.unsq_len === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `${file}: no unsq_len (written by a CRIU older than 3.x?)`);
      if (stream.inq.length < num(stream.entry.inq_len) || stream.outq.length < num(stream.entry.outq_len)) {
        throw new RestoreError('IMAGE_CORRUPT', `${file}: the queues are shorter than inq_len/outq_len say`);
      }
    }
    // A listener or bound socket whose port another socket took since could not bind, nor a
    // connection whose four addresses another one has: say so now. A connection restored closed binds nothing; an ended one binds in repair mode (which may share
    // its port with the TIME_WAIT the connection left): the connect's four addresses decide.
    // Raw sockets have no ports to collide; ping sockets are made by the task's group only (ping_group_range), not cryo's.
    if (num(e.src_port) !== 0 && !closing && !isEnded(e) && !rawPing) checkBindable(e, `${why} (${describe(e)})`, isConnection(e));
  },
  restore({ ctx, session, entry: e, target, why }) {
    const f = num(e.family);
    const what = `${why} (${describe(e)})`;
    const make = () => {
      const s = Number(taskCall(ctx, why, 'socket', f, num(e.type), num(e.proto)));
      // A raw socket's is fixed when it is made (net.ipv6.bindv6only): it is bound to its protocol from the start.
      if (e.v6only === true && num(e.type) !== K.SOCK_RAW) setOpt(ctx, s, K.SOL_IPV6, K.IPV6_V6ONLY, 1, 'IPV6_V6ONLY', what);
      setOpt(ctx, s, K.SOL_SOCKET, K.SO_REUSEADDR, 1, 'SO_REUSEADDR', what);
      setOpt(ctx, s, K.SOL_SOCKET, K.SO_REUSEPORT, 1, 'SO_REUSEPORT', what);
      // Before bind: an address that is not (yet) this machine's binds only with it; an IPv6 one
      // may still be tentative, so IPv6 sockets bind with it always and drop it after unless they had it.
      if (bindsFree(e)) setOpt(ctx, s, freebindOpt(e)[0], freebindOpt(e)[1], 1, freebindOpt(e)[2], what);
      return s;
    };
    let fd = make();
    // closing: --tcp-close, as CRIU: a fresh socket shut down both ways, unbound.
    const closing = isConnection(e) && ctx.img.fdOptions?.tcpClose === true;
    const ended = isEnded(e) && !closing;
    const conn = isConnection(e) && !closing && !ended;
    if (closing) {
      const r = ctx.raw('shutdown', fd, 2 /* SHUT_RDWR */);
      if (r < 0n && r !== -BigInt(K.ENOTCONN)) throw new RestoreError('FAILED', `errno ${-r} from shutdown() restoring ${what} closed`);
    } else if (ended) {
      const released = session.state('cryo-files', () => readCryoFileStats(ctx.img.dir)).get(num(e.id))?.tcpPortReleased === true;
      fd = restoreEnded(ctx, fd, make, f, addrOf(e, 'src'), addrOf(e, 'dst'), streamOf(ctx.img, e).stream!, released, what);
    } else if (conn) {
      restoreTcpStream(ctx, fd, f, addrOf(e, 'src'), addrOf(e, 'dst'), streamOf(ctx.img, e).stream!, num(e.state), what);
    } else {
      if (num(e.src_port) !== 0) {
        const sa = sockaddr(f, addrOf(e, 'src'));
        taskCall(ctx, what, 'bind', fd, ctx.put(sa, 512), sa.length);
      }
      if (num(e.state) === K.TCP_LISTEN) taskCall(ctx, what, 'listen', fd, num(e.backlog));
      if (connectsTo(e)) {
        const da = sockaddr(f, addrOf(e, 'dst'));
        taskCall(ctx, what, 'connect', fd, ctx.put(da, 512), da.length);
      }
    }
    if (bindsFree(e) && !freebind(e)) setOpt(ctx, fd, freebindOpt(e)[0], freebindOpt(e)[1], 0, freebindOpt(e)[2], what);
    setFileFlags(ctx, fd, num(e.flags));
    restoreIpOpts(ctx, fd, f, e.ip_opts as MessageValue | undefined, what);
    if (num(e.type) === K.SOCK_RAW) restoreRawOpts(ctx, fd, f, num(e.proto), (e.ip_opts as MessageValue | undefined)?.raw as MessageValue | undefined, what);
    restoreSkOpts(ctx, fd, (e.opts as MessageValue | undefined) ?? {}, what);
    if (num(e.type) === K.SOCK_STREAM && num(e.proto) === K.IPPROTO_TCP) restoreTcpOpts(ctx, fd, e.tcp_opts as MessageValue | undefined, what);
    // Closed ones are shut down both ways already.
    const shut = closing || ended ? undefined : SHUT_HOW[shutdownLeft(e, conn)];
    if (shut !== undefined) {
      const r = ctx.raw('shutdown', fd, shut);
      if (r < 0n && num(e.state) !== K.TCP_CLOSE && r !== -BigInt(K.ENOTCONN)) throw new RestoreError('FAILED', `errno ${-r} from shutdown() restoring ${what}`);
    }
    // Once every socket of the task is bound: the real SO_REUSEADDR/SO_REUSEPORT.
    // The descriptor has moved to its number (`target`) by then.
    session.later(() => {
      const o = (e.opts as MessageValue | undefined) ?? {};
      setOpt(ctx, target, K.SOL_SOCKET, K.SO_REUSEADDR, o.reuseaddr === true ? 1 : 0, 'SO_REUSEADDR', what);
      setOpt(ctx, target, K.SOL_SOCKET, K.SO_REUSEPORT, o.so_reuseport === true ? 1 : 0, 'SO_REUSEPORT', what);
    });
    // Once every socket of the tree exists (a replayed FIN is answered to the peer, which may be
    // one of them): the connection's FINs, then it goes live.
    const locked = isConnection(e) && networkLockFor(ctx.tree, ctx.img.fdOptions?.networkLock) === 'iptables';
    const restored = connectionEnds(ctx.tree);
    const [src, dst] = [addrOf(e, 'src'), addrOf(e, 'dst')];
    if (locked) {
      restored.add(connectionKey(f, src, dst));
      queueUnlock(ctx.tree, f, src, dst);
    }
    if (conn || locked) {
      ctx.tree.later(() => {
        // The dump's network locks go once the connections' sockets exist to take their segments:
        // every one queued, at the first of them.
        if (locked) unlockQueued(ctx.tree);
        if (!conn) return;
        const o = (e.opts as MessageValue | undefined) ?? {};
        const stream = streamOf(ctx.img, e).stream!;
        sendUnsent(ctx, target, stream, { sndbuf: Math.floor(num(o.so_sndbuf) / 2), rcvbuf: Math.floor(num(o.so_rcvbuf) / 2) }, what);
        replayFins(ctx, target, f, src, dst, stream.entry, num(e.state), what);
        leaveRepair(ctx, target, what);
        // Leaving repair mode resets SO_REUSEADDR (sk_reuse) in the kernel: the dumped value again.
        if (o.reuseaddr === true) setOpt(ctx, target, K.SOL_SOCKET, K.SO_REUSEADDR, 1, 'SO_REUSEADDR', what);
      });
    }
    return fd;
  },
};
