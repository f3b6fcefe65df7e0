/**
 * Half-closed TCP connections (FIN_WAIT1, FIN_WAIT2, CLOSE_WAIT, LAST_ACK, CLOSING), as CRIU's soccr
 * restores them. Repair mode rebuilds only an ESTABLISHED connection; the FINs come after:
 *
 * - Ours (we shut down our sending side): shutdown(SHUT_WR) in repair mode queues the FIN. If the
 *   peer had acknowledged it (FIN_WAIT2), it is queued as already sent (TCP_REPAIR_QUEUE =
 *   SEND_QUEUE, nothing goes out) and an ACK of it, forged from the peer's address, moves the socket
 *   on; unacknowledged, it is queued as sent too (the retransmission timer sends it again), unless
 *   bytes not sent yet were before it (it goes out with them).
 * - The peer's (CLOSE_WAIT, LAST_ACK, CLOSING): only a segment can put a FIN into the receive side,
 *   so a FIN+ACK forged from the peer's address, with the FIN's sequence number, arrives on a raw
 *   socket of cryo's.
 *
 * A FIN occupies one sequence number: the queue sequences the dump read (write_seq, rcv_nxt)
 * count it, so the connection is rebuilt one short and the FIN adds it back. The send queue's
 * length counts our FIN while unacknowledged; the dump leaves it out (soccr does the same).
 */
import { closeSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { errnoName, rawSyscall, sleepSync, writeI32 } from '../sys/index.js';
import * as K from './inet-consts.js';
import { sockaddr, type InetAddr } from './inet-addr.js';
import { setOpt } from './inet-opts.js';
import { TH_ACK, TH_FIN, buildSegment } from './tcp-segment.js';
import { num } from '../shared/constants.js';

interface Fins {
  /** We sent a FIN (shut down our sending side). */
  sent: boolean;
  /** ... and the peer acknowledged it. */
  sentAcked: boolean;
  /** The peer's FIN arrived. */
  received: boolean;
  /** The peer's FIN came first (LAST_ACK: we closed after reading the end of stream). */
  receivedFirst: boolean;
}

const FINS: Record<number, Fins> = {
  [K.TCP_ESTABLISHED]: { sent: false, sentAcked: false, received: false, receivedFirst: false },
  [K.TCP_FIN_WAIT1]: { sent: true, sentAcked: false, received: false, receivedFirst: false },
  [K.TCP_FIN_WAIT2]: { sent: true, sentAcked: true, received: false, receivedFirst: false },
  [K.TCP_CLOSE_WAIT]: { sent: false, sentAcked: false, received: true, receivedFirst: true },
  [K.TCP_LAST_ACK]: { sent: true, sentAcked: false, received: true, receivedFirst: true },
  [K.TCP_CLOSING]: { sent: true, sentAcked: false, received: true, receivedFirst: false },
};

/** The FINs a connection in `state` holds; undefined for a state cryo cannot rebuild. */
export const finsOf = (state: number): Fins | undefined => FINS[state];

/** Queue lengths as the dump writes them: our unacknowledged FIN is no byte of the send queue. */
export function withoutOurFin(state: number, outqLen: number, unsqLen: number): { outqLen: number; unsqLen: number } {
  if (!FINS[state]?.sent) return { outqLen, unsqLen };
  return { outqLen: Math.max(outqLen - 1, 0), unsqLen: Math.max(unsqLen - 1, 0) };
}

/** The sequence numbers to rebuild the ESTABLISHED connection with, before its FINs. */
export function beforeFins(state: number, inqSeq: number, outqSeq: number): { inqSeq: number; outqSeq: number } {
  const f = FINS[state]!;
  return { inqSeq: (inqSeq - (f.received ? 1 : 0)) >>> 0, outqSeq: (outqSeq - (f.sent ? 1 : 0)) >>> 0 };
}

const tcpStateAt = (ctx: TaskCtx, fd: number): number => {
  const info = Buffer.alloc(8);
  const len = Buffer.alloc(4);
  writeI32(len, info.length, 0);
  const lenAt = ctx.put(len, 64);
  const r = ctx.raw('getsockopt', fd, K.SOL_TCP, K.TCP_INFO, ctx.put(info, 0), lenAt);
  if (r < 0n) return -1;
  return ctx.get(0, 1)[0]!;
};

/** Waits until the kernel has handled a forged segment (loopback delivers it at once, mostly). */
export function waitState(ctx: TaskCtx, fd: number, want: number[], step: string, why: string): void {
  let now = tcpStateAt(ctx, fd);
  for (let i = 0; !want.includes(now) && i < 200; i++) {
    sleepSync(5);
    now = tcpStateAt(ctx, fd);
  }
  if (!want.includes(now)) {
    const names = want.map((w) => K.TCP_STATE_NAMES[w]).join(' or ');
    throw new RestoreError('FAILED', `${why}: the connection is in state ${K.TCP_STATE_NAMES[now] ?? now} after ${step}, ${names} expected (a firewall dropping packets to it?)`);
  }
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d): its connection runs over IPv4. */
const v4mapped = (a: Buffer) => a.length === 16 && a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;

/** Sends one segment from the peer (`from`) to the rebuilt socket (`to`) through a raw socket of cryo's. */
export function forge(family: number, from: InetAddr, to: InetAddr, seq: number, ack: number, flags: number, window: number, why: string): void {
  let fam = family;
  let src = from.addr;
  let dst = to.addr;
  if (family === K.AF_INET6 && v4mapped(from.addr) && v4mapped(to.addr)) {
    fam = K.AF_INET;
    src = from.addr.subarray(12, 16);
    dst = to.addr.subarray(12, 16);
  }
  if (fam === K.AF_INET) {
    src = src.subarray(0, 4);
    dst = dst.subarray(0, 4);
  }
  const pkt = buildSegment({ src, dst, sport: from.port, dport: to.port, seq, ack, flags, window });
  let fd: number;
  try {
    fd = Number(rawSyscall('socket', fam, K.SOCK_RAW | K.SOCK_CLOEXEC, K.IPPROTO_RAW));
  } catch (e) {
    throw new RestoreError('FAILED', `${why}: cannot open a raw socket to replay the connection's FIN (${(e as Error).message}): run cryo as root (CAP_NET_RAW)`, { cause: e });
  }
  try {
    // The port of a raw socket's address is 0; IPPROTO_RAW means the packet carries its own IP header.
    const sa = sockaddr(fam, { port: 0, addr: dst });
    rawSyscall('sendto', fd, pkt, pkt.length, 0, sa, sa.length);
  } finally {
    closeSync(fd);
  }
}

/**
 * Our FIN: behind bytes not sent yet (unsq_len > 0), it joins them and goes out with them;
 * otherwise it had been sent: it is queued as sent (in repair mode with the send queue selected
 * nothing goes out; unacknowledged, it is sent again when the retransmission timer fires).
 */
function shutdownInRepair(ctx: TaskCtx, fd: number, asSent: boolean, why: string): void {
  if (asSent) setOpt(ctx, fd, K.SOL_TCP, K.TCP_REPAIR_QUEUE, K.TCP_SEND_QUEUE, 'TCP_REPAIR_QUEUE', why);
  const r = ctx.raw('shutdown', fd, 1 /* SHUT_WR */);
  if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from shutdown(SHUT_WR) replaying the FIN of ${why}`);
  if (asSent) setOpt(ctx, fd, K.SOL_TCP, K.TCP_REPAIR_QUEUE, K.TCP_NO_QUEUE, 'TCP_REPAIR_QUEUE', why);
}

/**
 * Replays the FINs of a connection rebuilt as ESTABLISHED (restoreTcpStream), still in repair
 * mode, once every socket of the tree exists (the rebuilt socket answers a FIN with an ACK to its
 * peer, which may be one of them).
 */
export function replayFins(ctx: TaskCtx, fd: number, family: number, src: InetAddr, dst: InetAddr, e: MessageValue, state: number, why: string): void {
  const f = FINS[state]!;
  if (!f.sent && !f.received) return;
  const { inqSeq, outqSeq } = beforeFins(state, num(e.inq_seq), num(e.outq_seq));
  const sndUna = (outqSeq - num(e.outq_len)) >>> 0;
  // The window the peer last offered, as its segments carry it (scaled by its shift).
  const window = Math.min(num(e.snd_wnd ?? 0xffff) >>> num(e.snd_wscale ?? 0), 0xffff);
  const finSent = num(e.unsq_len ?? 0) === 0;
  if (f.sent && !f.receivedFirst) {
    shutdownInRepair(ctx, fd, finSent, why);
    // A FIN that goes out with bytes may be acknowledged at once.
    waitState(ctx, fd, finSent ? [K.TCP_FIN_WAIT1] : [K.TCP_FIN_WAIT1, K.TCP_FIN_WAIT2], 'shutdown()', why);
  }
  if (f.received) {
    forge(family, dst, src, inqSeq, sndUna, TH_FIN | TH_ACK, window, why);
    // CLOSING: if the peer acknowledged our FIN (sent with bytes) meanwhile, the connection has ended.
    waitState(ctx, fd, f.receivedFirst ? [K.TCP_CLOSE_WAIT] : finSent ? [K.TCP_CLOSING] : [K.TCP_CLOSING, K.TCP_CLOSE], 'the peer\'s FIN', why);
  }
  if (f.sent && f.receivedFirst) {
    shutdownInRepair(ctx, fd, finSent, why);
    waitState(ctx, fd, finSent ? [K.TCP_LAST_ACK] : [K.TCP_LAST_ACK, K.TCP_CLOSE], 'shutdown()', why);
  }
  if (f.sentAcked) {
    forge(family, dst, src, (inqSeq + (f.received ? 1 : 0)) >>> 0, outqSeq + 1, TH_ACK, window, why);
    waitState(ctx, fd, [K.TCP_FIN_WAIT2], 'the ACK of its FIN', why);
  }
}
