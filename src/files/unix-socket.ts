// Unix sockets (UNIXSK): stream, datagram and seqpacket; listening, connected, socketpairs,
// in-flight connections; path and abstract names; queued packets. Images and semantics as
// CRIU 4.2 (unix_sk_entry in files.img, sk-queues.img, sk_opts_entry):
//  - dump: the kernel's view of each socket comes from sock_diag (src/files/unix-diag.ts), the
//    queue is peeked from cryo's copy of the socket (src/files/unix-queue.ts). A peer outside the
//    dump is refused, naming the process that holds it, unless --ext-unix-sk (then, as CRIU, only
//    a datagram socket connected to a named peer: the peer is written as an external entry).
//  - restore: two sockets that are each other's peer come back as one socketpair() (its other end
//    copied into another process of the tree where it belongs there); any other
//    socket is socket() + bind() to its name (not an accepted connection: it shares its
//    listener's name) + listen(), and, once every socket exists, connect() to its peer's name
//    (an in-flight connection connects to its listener again). Queues are then sent again from
//    the peer end; a socket nobody in the dump sends to gets a helper peer, as CRIU's fake queuer.
//    Options, shutdown and file flags come last.
import { closeSync, fstatSync, readdirSync, readFileSync, readlinkSync, chmodSync, chownSync, statSync } from 'node:fs';
import { rawSyscall, readI32, writeU16 } from '../sys/index.js';
import { withSockDiag } from '../sys/netlink.js';
import { DumpError } from '../shared/dump-error.js';
import { ZERO_FOWN } from '../shared/file-table.js';
import { readCryoLinks } from '../images/cryo-image.js';
import type { FileTable } from '../shared/file-table.js';
import { namespaceIds } from '../shared/namespaces.js';
import { RestoreError } from '../shared/restore-error.js';
import type { MessageValue } from '../images/value.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { RestoreImages } from '../shared/restore-images.js';
import type { DumpFd, FdKind, FdRestoreSession, RestoreFd } from './kind.js';
import { setFileFlags, taskCall } from './anon.js';
import { O_CLOEXEC, O_PATH, F_DUPFD_CLOEXEC, num } from '../shared/constants.js';
import { TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, unixListeners, unixSocket, type UnixSkDiag } from './unix-diag.js';
import { packetsFor, peekQueue, sendPackets } from './unix-queue.js';
import { dumpSocketOpts, restoreSocketOpts, setSocketBufs, socketFamily } from './socket-opts.js';
import { BindSite, planBind, realPath, socketPath, type SocketName } from './unix-names.js';
import { lookupNoSymlinks, openNoSymlinks, RESOLVE_BENEATH, walkLinks } from '../sys/safe-path.js';
import { openImagePath, S_IFDIR } from '../shared/image-paths.js';

const AF_UNIX = 1;
const AF_UNSPEC = 0;
const SOCK_STREAM = 1;
const SOCK_DGRAM = 2;
const SOCK_SEQPACKET = 5;
const TYPE_NAMES: Record<number, string> = { [SOCK_STREAM]: 'stream', [SOCK_DGRAM]: 'datagram', [SOCK_SEQPACKET]: 'seqpacket' };
/** unix_sk_entry.uflags: a peer outside the dump, reconnected by its name. */
const USK_EXTERN = 1;
/** SIOCUNIXFILE: an O_PATH descriptor of a bound socket's file. */
const SIOCUNIXFILE = 0x89e0;
/** enum sk_shutdown (the kernel's RCV_SHUTDOWN 1 | SEND_SHUTDOWN 2) and shutdown(2)'s `how` for each. */
const SHUTDOWN_NAMES = ['NONE', 'READ', 'WRITE', 'BOTH'];
const SHUT_HOW = [-1, 0, 1, 2];
const shutdownOf = (v: unknown): number => (typeof v === 'string' ? Math.max(0, SHUTDOWN_NAMES.indexOf(v)) : num(v));
const SUN_PATH_MAX = 108;
const SOCKADDR_AT = 512;

const typeName = (t: number) => TYPE_NAMES[t] ?? `type-${t}`;
const bytes = (v: unknown): Buffer => (v === undefined ? Buffer.alloc(0) : Buffer.from(v as Uint8Array));
/** A name for messages: a path, or @abstract. */
function showName(name: Buffer): string {
  if (name.length === 0) return 'unnamed';
  return name[0] === 0 ? `@${name.subarray(1).toString('latin1').replace(/\0/g, '@')}` : pathName(name);
}
const isPathName = (name: Buffer) => name.length > 0 && name[0] !== 0;
/** A path name as a string: the kernel keeps (and sock_diag reports, and CRIU stores) its terminating NUL. */
const pathName = (name: Buffer): string => name.toString('utf8', 0, name.indexOf(0) < 0 ? name.length : name.indexOf(0));

// ---------------------------------------------------------------- dump

/** Who holds a socket: processes with a descriptor of socket:[ino] (cryo itself left out), the dumped task `first`. */
function holdersOf(ino: number, first?: number): { pid: number; fd: number }[] {
  const link = `socket:[${ino}]`;
  const out: { pid: number; fd: number }[] = [];
  if (first !== undefined) {
    try {
      for (const fd of readdirSync(`/proc/${first}/fd`)) {
        try { if (readlinkSync(`/proc/${first}/fd/${fd}`) === link) return [{ pid: first, fd: Number(fd) }]; } catch { /* closed */ }
      }
    } catch { /* gone */ }
  }
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    let fds: string[];
    try { fds = readdirSync(`/proc/${p}/fd`); } catch { continue; }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${p}/fd/${fd}`) === link) out.push({ pid: Number(p), fd: Number(fd) });
      } catch { /* closed meanwhile */ }
    }
  }
  return out;
}

/** Whether `pid` is part of this dump: the dumped task, or a process cryo holds frozen (a tree's member). */
function inDump(table: FileTable, pid: number): boolean {
  if (pid === table.pid) return true;
  try {
    return /^TracerPid:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] === String(process.pid);
  } catch {
    return false;
  }
}

function describeHolder(h: { pid: number; fd: number } | undefined): string {
  if (!h) return 'held by no process';
  let comm = '?';
  try { comm = readFileSync(`/proc/${h.pid}/comm`, 'utf8').trim(); } catch { /* gone */ }
  return `held by process ${h.pid} (${comm}) as fd ${h.fd}`;
}

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

function dumpUnix(c: DumpFd): MessageValue {
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
      const holders = holdersOf(peer.ino, c.pid);
      if (!holders.some((h) => inDump(c.table, h.pid))) outsidePeer(c, sk, peer, holders[0]);
    } else if (sk.state === TCP_ESTABLISHED && sk.type !== SOCK_DGRAM) {
      // No peer yet: a connection waiting in a listener's accept queue (or one whose peer is gone).
      const listener = unixListeners(nl).find((l) => l.icons.includes(ino));
      if (!listener) {
        if (sk.shutdown !== 3) throw new DumpError('UNSUPPORTED', `${me} is a connected unix socket (socket:[${ino}]) without a peer: cryo cannot dump it`);
      } else {
        if (sk.wqlen !== 0) throw new DumpError('UNSUPPORTED', `${me} is a unix connection not yet accepted by socket:[${listener.ino}] with data sent: cryo cannot dump that`);
        const holders = holdersOf(listener.ino, c.pid);
        if (!holders.some((h) => inDump(c.table, h.pid))) outsidePeer(c, sk, listener, holders[0]);
        e.peer = listener.ino;
      }
    } else if (sk.state === TCP_LISTEN) {
      for (const icon of sk.icons) {
        const holders = icon === 0 ? [] : holdersOf(icon, c.pid);
        if (!holders.some((h) => inDump(c.table, h.pid))) {
          throw new DumpError('UNSUPPORTED', `${me} is a unix socket listening on ${showName(sk.name)} with a connection not yet accepted from socket:[${icon}], ${describeHolder(holders[0])}, which is outside the dump: accept it first, or dump that process too`);
        }
      }
    }
    e.opts = dumpSocketOpts(c.stolen, true);
    return e;
  });
}

// ---------------------------------------------------------------- restore

const usk = (f: MessageValue | undefined) => f?.usk as MessageValue | undefined;
const isExtern = (e: MessageValue) => (num(e.uflags) & USK_EXTERN) !== 0;
/** Whether binding belongs to this socket: an accepted connection carries its listener's name, CRIU leaves it unbound. */
const bindsName = (e: MessageValue) => bytes(e.name).length > 0 && !(num(e.state) === TCP_ESTABLISHED && num(e.type) !== SOCK_DGRAM);

/** Every unix socket entry of files.img, by inode. */
function socketsByIno(files: Iterable<MessageValue>): Map<number, MessageValue> {
  const out = new Map<number, MessageValue>();
  for (const f of files) {
    const e = usk(f);
    if (f.type === 'UNIXSK' && e) out.set(num(e.ino), e);
  }
  return out;
}

/** cryo-links.img of each image directory (read once). */
const linksByDir = new Map<string, ReadonlyMap<string, string>>();
function dumpLinks(img: RestoreImages): ReadonlyMap<string, string> {
  let links = linksByDir.get(img.dir);
  if (!links) {
    try {
      links = readCryoLinks(img.dir);
    } catch (e) {
      throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${(e as Error).message}`);
    }
    linksByDir.set(img.dir, links);
  }
  return links;
}

/** What a socket entry says about its path name. */
function socketName(img: RestoreImages, e: MessageValue): SocketName {
  const perms = e.file_perms as MessageValue | undefined;
  return {
    links: dumpLinks(img),
    name: pathName(bytes(e.name)),
    dir: typeof e.name_dir === 'string' ? e.name_dir : undefined,
    deleted: e.deleted === true,
    owner: perms ? { uid: num(perms.uid), gid: num(perms.gid) } : undefined,
  };
}

/** The file-system path of a path name (relative names under name_dir), refused unless clean. */
function fsPath(img: RestoreImages, e: MessageValue, why: string): string {
  return socketPath(socketName(img, e), why);
}

/** Two sockets that are each other's peer: one socketpair. */
function pairedWith(e: MessageValue, byIno: Map<number, MessageValue>): MessageValue | undefined {
  const p = byIno.get(num(e.peer));
  return p && p !== e && !isExtern(p) && num(p.peer) === num(e.ino) ? p : undefined;
}

/** Whether any process of the dump (any fdinfo-N.img) has a descriptor of file id `id`. */
function inSomeProcess(img: RestoreImages, id: number): boolean {
  for (const [name, image] of img.all) {
    if (/^fdinfo-\d+\.img$/.test(name) && image.entries.some((x) => num(x.value.id) === id)) return true;
  }
  return img.fdinfo.some((f) => num(f.id) === id);
}

function checkUnix(img: RestoreImages, e: MessageValue, why: string): void {
  if (!TYPE_NAMES[num(e.type)]) throw new RestoreError('UNSUPPORTED', `${why} is a unix socket of type ${num(e.type)}: cryo restores stream, datagram and seqpacket ones`);
  if (![TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN].includes(num(e.state))) throw new RestoreError('UNSUPPORTED', `${why} is a unix socket in state ${num(e.state)}: cryo cannot restore it`);
  const name = bytes(e.name);
  if (name.length > SUN_PATH_MAX) throw new RestoreError('IMAGE_CORRUPT', `${why}: unix socket name of ${name.length} bytes (at most ${SUN_PATH_MAX})`);
  const byIno = socketsByIno(img.files.values());
  if (num(e.peer) !== 0) {
    const peer = byIno.get(num(e.peer));
    if (!peer) throw new RestoreError('IMAGE_INCONSISTENT', `${why} is a unix socket connected to socket:[${num(e.peer)}], which files.img has no entry for`);
    if (isExtern(peer)) {
      const pname = bytes(peer.name);
      if (isPathName(pname) && !isSocketFile(realPath(socketName(img, peer), why))) {
        throw new RestoreError('UNSUPPORTED', `${why} is a unix socket connected to ${showName(pname)} outside the dump (--ext-unix-sk), and no socket is bound there now: start its owner first`);
      }
    } else {
      if (!inSomeProcess(img, num(peer.id))) throw new RestoreError('IMAGE_INCONSISTENT', `${why} is a unix socket connected to socket:[${num(e.peer)}], which no process of the dump has a descriptor of`);
      if (!pairedWith(e, byIno) && bytes(peer.name).length === 0 && num(peer.ino) !== num(e.ino)) {
        throw new RestoreError('IMAGE_INCONSISTENT', `${why} is a unix socket connected to socket:[${num(e.peer)}], which has no name to connect to`);
      }
    }
  }
  if (bindsName(e) && isPathName(name)) planBind(socketName(img, e), why);
}

/** Whether a socket file is at `p`, reached without a symbolic link. */
function isSocketFile(p: string): boolean {
  const got = lookupNoSymlinks(p);
  return got.kind === 'found' && got.st.isSocket();
}

/** A descriptor in one process of the restored tree. */
interface InTask { ctx: TaskCtx; fd: number }
interface Placed { ctx: TaskCtx; e: MessageValue; target: number; why: string }
/** Tree-wide: a socketpair's ends or a peer may belong to different processes. */
interface RestoreState {
  byIno: Map<number, MessageValue>;
  /** Sockets made and not yet handed out, by inode (parked high in the process that made them). */
  parked: Map<number, InTask>;
  /** Helper peers that send a queue nobody in the dump sends (CRIU's fake queuer), by the owner's inode. */
  fakes: Map<number, InTask>;
  placed: Placed[];
}

function sockaddr(ctx: TaskCtx, name: Buffer): [bigint, number] {
  const b = Buffer.alloc(2 + name.length);
  writeU16(b, AF_UNIX, 0);
  name.copy(b, 2);
  return [ctx.put(b, SOCKADDR_AT), b.length];
}

function park(ctx: TaskCtx, s: FdRestoreSession, fd: number): number {
  const hi = Number(ctx.call('fcntl', fd, F_DUPFD_CLOEXEC, s.high));
  ctx.call('close', fd);
  return hi;
}

/** A new socketpair in the task, both ends parked high. */
function socketpair(ctx: TaskCtx, s: FdRestoreSession, type: number, why: string): [number, number] {
  const sv = ctx.put(Buffer.alloc(8), 256);
  taskCall(ctx, why, 'socketpair', AF_UNIX, type | O_CLOEXEC, 0, sv);
  const got = ctx.get(256, 8);
  return [park(ctx, s, readI32(got, 0)), park(ctx, s, readI32(got, 4))];
}

/**
 * Binds the task's socket to its name, where planBind says it may: an old socket file nobody
 * uses goes first (as CRIU), a deleted name is unlinked again (with the directories made for it).
 * Owner and mode go on through the bound file itself, never by a path that could lead elsewhere.
 */
function bindName(ctx: TaskCtx, fd: number, e: MessageValue, why: string): void {
  const name = bytes(e.name);
  if (!isPathName(name)) {
    const [at, len] = sockaddr(ctx, name);
    taskCall(ctx, why, 'bind', fd, at, len);
    return;
  }
  const n = socketName(ctx.img, e);
  const site = new BindSite(planBind(n, why), why);
  const p = site.plan.path;
  let bound: { dev: number; ino: number } | undefined;
  try {
    // A relative name stays relative (getsockname tells it): bound from its directory, as CRIU.
    // The task's working directory is set after the descriptors.
    const rel = !n.name.startsWith('/');
    if (rel) {
      const dir = openImagePath(ctx, n.dir!, O_PATH | O_CLOEXEC, `the directory of ${why}'s socket name`, S_IFDIR);
      try { taskCall(ctx, why, 'fchdir', dir); } finally { ctx.call('close', dir); }
    }
    const [at, len] = sockaddr(ctx, rel ? name : Buffer.from(p));
    const r = ctx.raw('bind', fd, at, len);
    if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from bind(${p}) restoring ${why}`);
    bound = site.boundFile();
    if (!bound) throw new RestoreError('FAILED', `bind(${p}) restoring ${why} left no socket file there`);
    const perms = e.file_perms as MessageValue | undefined;
    if (perms) {
      const f = openNoSymlinks(site.base, O_PATH, site.dirfd, RESOLVE_BENEATH);
      try {
        if (fstatSync(f).ino !== bound.ino) throw new RestoreError('FAILED', `the socket file ${p} changed while restore ran (${why})`);
        // Through the descriptor (its /proc link is the file itself); set-id bits mean nothing on a socket.
        chownSync(`/proc/self/fd/${f}`, num(perms.uid), num(perms.gid));
        chmodSync(`/proc/self/fd/${f}`, num(perms.mode) & 0o1777);
      } finally {
        closeSync(f);
      }
    }
  } finally {
    site.undo(e.deleted === true ? bound : undefined);
  }
}

function connectTo(ctx: TaskCtx, fd: number, peer: MessageValue, why: string): void {
  const name = bytes(peer.name);
  const addr = isPathName(name) ? Buffer.from(fsPath(ctx.img, peer, why)) : name;
  const [at, len] = sockaddr(ctx, addr);
  const r = ctx.raw('connect', fd, at, len);
  if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from connect(${showName(addr)}) restoring ${why}`);
}

function restoreUnix(c: RestoreFd): number {
  const { ctx, session, entry: e, why } = c;
  const st = ctx.tree.state<RestoreState>('unix', () => {
    const s: RestoreState = { byIno: socketsByIno(ctx.img.files.values()), parked: new Map(), fakes: new Map(), placed: [] };
    // Once every process of the tree has its descriptors: peers may be in other processes.
    ctx.tree.later(() => finish(s));
    return s;
  });
  const ino = num(e.ino);
  st.placed.push({ ctx, e, target: c.target, why });
  const ready = st.parked.get(ino);
  if (ready !== undefined) {
    // The other end of a socketpair made for its peer, here or in another process.
    if (ready.ctx === ctx) {
      st.parked.delete(ino);
      return ready.fd;
    }
    return ctx.importFd(ready.ctx, ready.fd);
  }
  const type = num(e.type);
  const pair = pairedWith(e, st.byIno);
  if (pair) {
    const [a, b] = socketpair(ctx, session, type, why);
    st.parked.set(num(pair.ino), { ctx, fd: b });
    if (type === SOCK_DGRAM) {
      if (bindsName(e)) bindName(ctx, a, e, why);
      if (bindsName(pair)) bindName(ctx, b, pair, why);
    }
    return a;
  }
  let fd: number;
  const queued = packetsFor(ctx, num(e.id)).length > 0;
  const sender = [...st.byIno.values()].some((o) => o !== e && !isExtern(o) && num(o.peer) === ino && !pairedWith(o, st.byIno));
  if (queued && !sender) {
    // Nobody in the dump sends to it: a helper peer will (CRIU's fake queuer).
    const [a, b] = socketpair(ctx, session, type, why);
    fd = a;
    st.fakes.set(ino, { ctx, fd: b });
    if (type === SOCK_DGRAM) {
      // Forget the helper as peer, so others may connect or send to this socket.
      const un = Buffer.alloc(2);
      taskCall(ctx, why, 'connect', fd, ctx.put(un, SOCKADDR_AT), 2);
    }
  } else {
    fd = Number(taskCall(ctx, why, 'socket', AF_UNIX, type | O_CLOEXEC, 0));
  }
  if (bindsName(e)) bindName(ctx, fd, e, why);
  if (num(e.state) === TCP_LISTEN) taskCall(ctx, why, 'listen', fd, num(e.backlog));
  return fd;
}

/** Once every descriptor of every process is in place: connections, queues, then options, shutdown and flags. */
/** src/restore/files.ts's descriptorOf, as the tree share hands it over. */
type DescriptorOf = (ctx: TaskCtx, id: number, why: string) => number;

function finish(st: RestoreState): void {
  const socketOf = (ino: number): InTask | undefined => {
    const p = st.placed.find((q) => num(q.e.ino) === ino);
    return p ? { ctx: p.ctx, fd: p.target } : st.parked.get(ino);
  };
  for (const p of st.placed) {
    if (num(p.e.peer) === 0 || pairedWith(p.e, st.byIno)) continue;
    connectTo(p.ctx, p.target, st.byIno.get(num(p.e.peer))!, p.why);
  }
  for (const p of st.placed) {
    const packets = packetsFor(p.ctx, num(p.e.id));
    if (packets.length === 0) continue;
    const ino = num(p.e.ino);
    const pair = pairedWith(p.e, st.byIno);
    const from = pair ? socketOf(num(pair.ino))
      : st.fakes.get(ino) ?? st.placed.filter((q) => q !== p && num(q.e.peer) === ino && !pairedWith(q.e, st.byIno)).map((q) => ({ ctx: q.ctx, fd: q.target }))[0];
    if (from === undefined) throw new RestoreError('FAILED', `${p.why} of process ${p.ctx.pid}: no socket to send its queued packets from`);
    // Room for everything, as CRIU's restore_prepare_socket; the dumped sizes are set after.
    setSocketBufs(from.ctx, from.fd, 0x3fffffff, 0x3fffffff, p.why);
    sendPackets(from.ctx, from.fd, packets, p.why, (ids) => {
      // Descriptors in flight: the files, as the tree holds them or opened for it (src/restore/files.ts).
      const open = from.ctx.tree.state<DescriptorOf | undefined>('descriptorOf', () => undefined);
      if (!open) throw new RestoreError('FAILED', `${p.why}: no way to open the descriptors in flight`);
      const fds = ids.map((id) => open(from.ctx, id, p.why));
      return { fds, done: () => { for (const fd of fds) from.ctx.call('close', fd); } };
    });
  }
  for (const p of st.placed) {
    restoreSocketOpts(p.ctx, p.target, (p.e.opts as MessageValue | undefined) ?? {}, p.why);
    const how = SHUT_HOW[shutdownOf(p.e.shutdown)] ?? -1;
    if (how >= 0) taskCall(p.ctx, p.why, 'shutdown', p.target, how);
    setFileFlags(p.ctx, p.target, num(p.e.flags));
  }
  for (const s of [...st.fakes.values(), ...st.parked.values()]) s.ctx.call('close', s.fd);
  st.fakes.clear();
  st.parked.clear();
}

export const unixSocketKind: FdKind = {
  type: 'UNIXSK', field: 'usk', name: 'unix sockets',
  matches: (c) => c.target.kind === 'socket' && socketFamily(c.stolen) === AF_UNIX,
  dump: dumpUnix,
  check: (img, entry, why) => checkUnix(img, entry, why),
  restore: restoreUnix,
};
