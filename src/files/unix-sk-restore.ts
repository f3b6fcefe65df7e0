// Restore of unix sockets across the tree: socketpairs for sockets that are each other's peer,
// socket() + bind() + listen() for the others, then connections, queues, options and flags.
import { readI32 } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { MessageValue } from '../images/value.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import type { FdRestoreSession, RestoreFd } from './kind.js';
import { setFileFlags, taskCall } from './anon.js';
import { O_CLOEXEC, F_DUPFD_CLOEXEC, num } from '../shared/constants.js';
import { TCP_LISTEN } from './unix-diag.js';
import { packetsFor, sendPackets } from './unix-queue.js';
import { restoreSocketOpts, setSocketBufs } from './socket-opts.js';
import { AF_UNIX, SHUT_HOW, SOCKADDR_AT, SOCK_DGRAM, bindsName, isExtern, pairedWith, shutdownOf, socketsByIno } from './unix-sk-entry.js';
import { bindName, connectTo, unlinkAside, type AsideName } from './unix-sk-bind.js';

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
  /** Sockets bound to a name deleted at dump time that others connect to: where the name waits, by inode. */
  aside: Map<number, AsideName>;
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

export function restoreUnix(c: RestoreFd): number {
  const { ctx, session, entry: e, why } = c;
  const st = ctx.tree.state<RestoreState>('unix', () => {
    const s: RestoreState = { byIno: socketsByIno(ctx.img.files.values()), parked: new Map(), fakes: new Map(), placed: [], aside: new Map() };
    // Once every process of the tree has its descriptors: peers may be in other processes.
    ctx.tree.later(() => finish(s));
    // Names moved aside go when restore ends, also when it failed.
    ctx.tree.atEnd(() => { for (const a of s.aside.values()) unlinkAside(a); s.aside.clear(); });
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
  if (bindsName(e)) {
    const aside = bindName(ctx, fd, e, why, sender);
    if (aside) st.aside.set(ino, aside);
  }
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
    connectTo(p.ctx, p.target, st.byIno.get(num(p.e.peer))!, p.why, st.aside.get(num(p.e.peer)));
  }
  for (const a of st.aside.values()) unlinkAside(a);
  st.aside.clear();
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
