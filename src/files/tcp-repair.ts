/**
 * Established TCP connections through the kernel's TCP repair mode (as CRIU's soccr):
 *
 * Dump, on cryo's copy of the socket: TCP_REPAIR on (the socket is frozen: nothing is sent, what
 * is queued stays), TCP_INFO (state, options, window scales), SIOCINQ/SIOCOUTQ/SIOCOUTQNSD (queue
 * lengths), TCP_MAXSEG (the mss clamp, in repair mode), TCP_TIMESTAMP, TCP_REPAIR_WINDOW, and per
 * queue TCP_REPAIR_QUEUE + TCP_QUEUE_SEQ + recv(MSG_PEEK) for its bytes. Result: tcp_stream_entry
 * with the receive then the send queue as its extra (tcp-stream-INODE.img).
 *
 * Restore, by injected calls in the task: TCP_REPAIR on, buffers large enough for the queues,
 * bind, TCP_QUEUE_SEQ of both queues (the first byte of each), connect (in repair mode the kernel
 * sends no SYN: the socket is ESTABLISHED at once), TCP_REPAIR_OPTIONS (sack, window scales,
 * timestamps, mss), TCP_TIMESTAMP, the receive queue and the sent part of the send queue written
 * in repair mode, TCP_REPAIR_WINDOW. Once every socket of the tree exists: the unsent part written
 * normally (`sendUnsent`), the FINs replayed, and repair mode left (`leaveRepair`).
 */
import { closeSync } from 'node:fs';
import type { Taken } from '../sys/guardian.js';
import type { MessageValue } from '../images/value.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { SysError, errnoName, rawSyscall, readI32, readU32, writeI32, writeU32 } from '../sys/index.js';
import * as K from './inet-consts.js';
import { getInt, getOpt, setOpt } from './inet-opts.js';
import { sockaddr, type InetAddr } from './inet-addr.js';
import { F_SETFL, O_NONBLOCK, num } from '../shared/constants.js';
import { beforeFins, finsOf, withoutOurFin } from './tcp-fin.js';
import { setSocketBufs } from './socket-opts.js';

export interface TcpStream {
  entry: MessageValue;
  inq: Buffer;
  outq: Buffer;
}

function setInt(fd: number, level: number, name: number, v: number): void {
  const b = Buffer.alloc(4);
  writeI32(b, v, 0);
  rawSyscall('setsockopt', fd, level, name, b, 4);
}

function ioctlInt(fd: number, req: number): number {
  const b = Buffer.alloc(4);
  rawSyscall('ioctl', fd, req, b);
  return readI32(b, 0);
}

/** Puts the socket behind cryo's descriptor `fd` into repair mode; `what` names it for the error. */
export function enterRepair(fd: number, what: string): void {
  try {
    setInt(fd, K.SOL_TCP, K.TCP_REPAIR, 1);
  } catch (e) {
    if (e instanceof SysError && e.code === 'EPERM') {
      throw new DumpError('PERMISSION', `${e.message}: TCP repair mode for ${what} needs CAP_NET_ADMIN (run cryo as root)`, { cause: e });
    }
    throw e;
  }
}

/** Leaves repair mode (the kernel sends a window probe, so the peer learns the window again). */
export function leaveRepairHere(fd: number): void {
  setInt(fd, K.SOL_TCP, K.TCP_REPAIR, 0);
}

/** Bytes of one queue, peeked in repair mode, with the sequence number after its last byte. */
function peekQueue(fd: number, queue: number, len: number, what: string): { seq: number; data: Buffer } {
  setInt(fd, K.SOL_TCP, K.TCP_REPAIR_QUEUE, queue);
  const seq = readU32(getOpt(fd, K.SOL_TCP, K.TCP_QUEUE_SEQ), 0);
  if (len === 0) return { seq, data: Buffer.alloc(0) };
  // One byte more than expected: fewer or more bytes than SIOC*Q said means the queue moved.
  const b = Buffer.alloc(len + 1);
  const n = Number(rawSyscall('recvfrom', fd, b, b.length, K.MSG_PEEK | K.MSG_DONTWAIT, 0, 0));
  if (n !== len) throw new DumpError('FAILED', `${what}: the ${queue === K.TCP_RECV_QUEUE ? 'receive' : 'send'} queue holds ${n} bytes, ${len} expected`);
  return { seq, data: b.subarray(0, len) };
}

/** The connection's state from cryo's descriptor `fd`, already in repair mode (see the module comment). */
export function readTcpStream(fd: number, what: string): TcpStream & { state: number } {
  const info = getOpt(fd, K.SOL_TCP, K.TCP_INFO, 8);
  const state = info[0]!;
  const ended = state === K.TCP_CLOSE;
  if (!finsOf(state) && !ended) throw new DumpError('UNSUPPORTED', `${what} is in TCP state ${K.TCP_STATE_NAMES[state] ?? state}: cryo restores established, half-closed and ended connections only`);
  const optMask = info[5]!;
  // An ended connection sends nothing more: what a reset left in its send queue is no one's to read (as soccr).
  const { outqLen, unsqLen } = ended ? { outqLen: 0, unsqLen: 0 } : withoutOurFin(state, ioctlInt(fd, K.SIOCOUTQ), ioctlInt(fd, K.SIOCOUTQNSD));
  // Without the peer's FIN, which the kernel leaves out of SIOCINQ.
  const inqLen = ioctlInt(fd, K.SIOCINQ);
  const e: MessageValue = { inq_len: inqLen, inq_seq: 0, outq_len: outqLen, outq_seq: 0, opt_mask: optMask, snd_wscale: 0, mss_clamp: getInt(fd, K.SOL_TCP, K.TCP_MAXSEG) >>> 0 };
  if (optMask & K.TCPI_OPT_WSCALE) {
    // tcpi_snd_wscale:4, tcpi_rcv_wscale:4 share one byte (low nibble first on little-endian hosts).
    e.snd_wscale = info[6]! & 0xf;
    e.rcv_wscale = info[6]! >> 4;
  }
  if (optMask & K.TCPI_OPT_TIMESTAMPS) e.timestamp = getInt(fd, K.SOL_TCP, K.TCP_TIMESTAMP) >>> 0;
  e.unsq_len = unsqLen;
  const w = getOpt(fd, K.SOL_TCP, K.TCP_REPAIR_WINDOW, 20);
  ['snd_wl1', 'snd_wnd', 'max_window', 'rcv_wnd', 'rcv_wup'].forEach((f, i) => { e[f] = readU32(w, i * 4); });
  const inq = peekQueue(fd, K.TCP_RECV_QUEUE, inqLen, what);
  const outq = peekQueue(fd, K.TCP_SEND_QUEUE, outqLen, what);
  setInt(fd, K.SOL_TCP, K.TCP_REPAIR_QUEUE, K.TCP_NO_QUEUE);
  e.inq_seq = inq.seq;
  e.outq_seq = outq.seq;
  return { entry: e, inq: inq.data, outq: outq.data, state };
}

/**
 * Keeps a connection's socket frozen in repair mode until the dump ends (as CRIU): a task that runs
 * on gets it back out of repair mode; a killed task's socket closes silently (no FIN, no RST), so
 * the restored one can take the connection over. `guarded` takes back the guard's record that
 * leaves repair mode should cryo die first (guardTcpRepair).
 */
export function holdUntilDumpEnds(fd: number, guarded: Taken): (taskRunsOn: boolean) => void {
  const held = Number(rawSyscall('fcntl', fd, 1030 /* F_DUPFD_CLOEXEC */, 0));
  return (taskRunsOn) => {
    try {
      if (taskRunsOn) leaveRepairHere(held);
      guarded();
    } finally {
      closeSync(held);
    }
  };
}

// --- restore, in the task ---

const CHUNK_AT = 8192;
const CHUNK = 8192;
const INT_MAX = 0x7fffffff;

function call(ctx: TaskCtx, why: string, what: string, name: string, ...args: (number | bigint)[]): bigint {
  const r = ctx.raw(name, ...args);
  if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from ${what} restoring ${why}`);
  return r;
}

/** Writes `data` into the socket (whichever queue TCP_REPAIR_QUEUE selected), a chunk at a time. */
export function sendAll(ctx: TaskCtx, fd: number, data: Buffer, why: string, queue: string): void {
  for (let off = 0; off < data.length;) {
    const chunk = data.subarray(off, off + CHUNK);
    const n = Number(call(ctx, why, `send() of the ${queue} queue`, 'sendto', fd, ctx.put(chunk, CHUNK_AT), chunk.length, 0, 0, 0));
    if (n <= 0) throw new RestoreError('FAILED', `cannot refill the ${queue} queue restoring ${why}: send returned ${n}`);
    off += n;
  }
}

/**
 * Rebuilds the connection on the task's fresh socket `fd` (see the module comment) as ESTABLISHED,
 * without the FINs of a half-closed `state` (replayFins adds them); it stays in repair mode.
 */
export function restoreTcpStream(ctx: TaskCtx, fd: number, family: number, src: InetAddr, dst: InetAddr, s: TcpStream, state: number, why: string): void {
  const e = s.entry;
  const { inqSeq, outqSeq } = beforeFins(state, num(e.inq_seq), num(e.outq_seq));
  const tcp = (name: number, v: number | Buffer, what: string) => setOpt(ctx, fd, K.SOL_TCP, name, v, what, why);
  tcp(K.TCP_REPAIR, 1, 'TCP_REPAIR');
  // Room for the queues whatever the old sizes were (the real sizes come back with the socket options).
  setOpt(ctx, fd, K.SOL_SOCKET, K.SO_SNDBUFFORCE, INT_MAX >> 1, 'SO_SNDBUFFORCE', why);
  setOpt(ctx, fd, K.SOL_SOCKET, K.SO_RCVBUFFORCE, INT_MAX >> 1, 'SO_RCVBUFFORCE', why);
  call(ctx, why, 'fcntl(F_SETFL, O_NONBLOCK)', 'fcntl', fd, F_SETFL, O_NONBLOCK);
  const sa = sockaddr(family, src);
  call(ctx, why, 'bind()', 'bind', fd, ctx.put(sa, 512), sa.length);
  const inqLen = num(e.inq_len);
  const outqLen = num(e.outq_len);
  const seq = (v: number) => {
    const b = Buffer.alloc(4);
    writeU32(b, v >>> 0, 0);
    return b;
  };
  // TCP_QUEUE_SEQ is the sequence number of a queue's first byte; writing the bytes advances it.
  tcp(K.TCP_REPAIR_QUEUE, K.TCP_RECV_QUEUE, 'TCP_REPAIR_QUEUE');
  tcp(K.TCP_QUEUE_SEQ, seq(inqSeq - inqLen), 'TCP_QUEUE_SEQ');
  tcp(K.TCP_REPAIR_QUEUE, K.TCP_SEND_QUEUE, 'TCP_REPAIR_QUEUE');
  tcp(K.TCP_QUEUE_SEQ, seq(outqSeq - outqLen), 'TCP_QUEUE_SEQ');
  const da = sockaddr(family, dst);
  call(ctx, why, 'connect() in repair mode', 'connect', fd, ctx.put(da, 512), da.length);

  const mask = num(e.opt_mask);
  const opts: [number, number][] = [];
  if (mask & K.TCPI_OPT_SACK) opts.push([K.TCPOPT_SACK_PERM, 0]);
  if (mask & K.TCPI_OPT_WSCALE) opts.push([K.TCPOPT_WINDOW, num(e.snd_wscale) + (num(e.rcv_wscale) << 16)]);
  if (mask & K.TCPI_OPT_TIMESTAMPS) opts.push([K.TCPOPT_TIMESTAMP, 0]);
  opts.push([K.TCPOPT_MAXSEG, num(e.mss_clamp)]);
  const ob = Buffer.alloc(opts.length * 8); // struct tcp_repair_opt { u32 opt_code; u32 opt_val; }
  opts.forEach(([code, val], i) => { writeU32(ob, code, i * 8); writeU32(ob, val >>> 0, i * 8 + 4); });
  tcp(K.TCP_REPAIR_OPTIONS, ob, 'TCP_REPAIR_OPTIONS');
  if (mask & K.TCPI_OPT_TIMESTAMPS) tcp(K.TCP_TIMESTAMP, seq(num(e.timestamp)), 'TCP_TIMESTAMP');

  if (inqLen > 0) {
    tcp(K.TCP_REPAIR_QUEUE, K.TCP_RECV_QUEUE, 'TCP_REPAIR_QUEUE');
    sendAll(ctx, fd, s.inq.subarray(0, inqLen), why, 'receive');
  }
  const unsent = num(e.unsq_len);
  const sent = outqLen - unsent;
  if (sent > 0) {
    tcp(K.TCP_REPAIR_QUEUE, K.TCP_SEND_QUEUE, 'TCP_REPAIR_QUEUE');
    sendAll(ctx, fd, s.outq.subarray(0, sent), why, 'send');
  }
  if (e.snd_wnd !== undefined) {
    const w = Buffer.alloc(20);
    const win: Record<string, number> = {};
    for (const f of ['snd_wl1', 'snd_wnd', 'max_window', 'rcv_wnd', 'rcv_wup']) win[f] = num(e[f]) >>> 0;
    // The kernel refuses a window update point beyond what was received: without the peer's FIN, it
    // moves back one (and the window grows by one: its right edge stays).
    if (((win.rcv_wup! - inqSeq) | 0) > 0) {
      win.rcv_wnd! += (win.rcv_wup! - inqSeq) >>> 0;
      win.rcv_wup = inqSeq;
    }
    ['snd_wl1', 'snd_wnd', 'max_window', 'rcv_wnd', 'rcv_wup'].forEach((f, i) => writeU32(w, win[f]! >>> 0, i * 4));
    tcp(K.TCP_REPAIR_WINDOW, w, 'TCP_REPAIR_WINDOW');
  }
}

/**
 * The part of the send queue never sent, written the ordinary way (the kernel sends it when it may)
 * once every socket of the tree exists: sent earlier, it would reach no socket and come back as a
 * reset. Before the FINs are replayed (ours follows these bytes); the send buffer is made large for
 * it and then set to the dumped `sndbuf` and `rcvbuf` again (the socket options are restored by then).
 */
export function sendUnsent(ctx: TaskCtx, fd: number, s: TcpStream, bufs: { sndbuf: number; rcvbuf: number }, why: string): void {
  const unsent = num(s.entry.unsq_len);
  if (unsent === 0) return;
  const outqLen = num(s.entry.outq_len);
  setSocketBufs(ctx, fd, INT_MAX >> 1, bufs.rcvbuf, why);
  setOpt(ctx, fd, K.SOL_TCP, K.TCP_REPAIR, 0, 'TCP_REPAIR', why);
  sendAll(ctx, fd, s.outq.subarray(outqLen - unsent, outqLen), why, 'unsent');
  setOpt(ctx, fd, K.SOL_TCP, K.TCP_REPAIR, 1, 'TCP_REPAIR', why);
  setSocketBufs(ctx, fd, bufs.sndbuf, bufs.rcvbuf, why);
}

/** Leaves repair mode in the task: the connection is live again. */
export function leaveRepair(ctx: TaskCtx, fd: number, why: string): void {
  setOpt(ctx, fd, K.SOL_TCP, K.TCP_REPAIR, 0, 'TCP_REPAIR off', why);
}
