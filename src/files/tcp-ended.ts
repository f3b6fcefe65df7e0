/**
 * A TCP socket left in CLOSE when its connection ended (both FINs, or a reset) and still held by
 * the task: getsockname and SO_PEERNAME give both ends, reads give the bytes left and then the end
 * of stream, writes fail with EPIPE, and the port stays held only if the socket bound it itself
 * (the kernel gives back a port that connect() picked).
 *
 * Restore, in the task (the dump read its sequence numbers and unread bytes in repair mode): repair
 * mode, the same source port (bound; or, for a port connect() had picked, picked again by connect()
 * from a one-port IP_LOCAL_PORT_RANGE, so the kernel gives it back again), a repair-mode connect,
 * the unread bytes, and a reset forged from the peer at the receive sequence number: the kernel ends
 * the connection as it ended before (CLOSE, both directions shut down) without sending anything.
 * Replaying the FINs instead (as CRIU does) makes the socket acknowledge them, and the peer, gone or
 * itself restored in CLOSE, answers with a reset. The reset's error is read off with SO_ERROR.
 */
import type { TaskCtx } from '../shared/task-ctx.js';
import { RestoreError } from '../shared/restore-error.js';
import { errnoName, writeU32 } from '../sys/index.js';
import { num } from '../shared/constants.js';
import * as K from './inet-consts.js';
import { sockaddr, type InetAddr } from './inet-addr.js';
import { setOpt } from './inet-opts.js';
import { sendAll, type TcpStream } from './tcp-repair.js';
import { forge, waitState } from './tcp-fin.js';
import { TH_ACK, TH_RST } from './tcp-segment.js';

const INT_MAX = 0x7fffffff;

function call(ctx: TaskCtx, why: string, what: string, name: string, ...args: (number | bigint)[]): bigint {
  const r = ctx.raw(name, ...args);
  if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from ${what} restoring ${why}`);
  return r;
}

const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  writeU32(b, v >>> 0, 0);
  return b;
};

/**
 * Rebuilds the ended connection on the task's fresh socket `fd` and ends it (see the module comment);
 * returns the socket. A port connect() cannot pick again (another socket bound it: the listener a
 * socket was accepted from, or the TIME_WAIT it left) is bound instead, on a new socket from `make`:
 * it comes back held.
 */
export function restoreEnded(ctx: TaskCtx, fd: number, make: () => number, family: number, src: InetAddr, dst: InetAddr, s: TcpStream, portReleased: boolean, why: string): number {
  if (portReleased) {
    const r = rebuild(ctx, fd, family, src, dst, s, true, why);
    if (r === 'ok') return fd;
    ctx.raw('close', fd);
    fd = make();
  }
  rebuild(ctx, fd, family, src, dst, s, false, why);
  return fd;
}

function rebuild(ctx: TaskCtx, fd: number, family: number, src: InetAddr, dst: InetAddr, s: TcpStream, portReleased: boolean, why: string): 'ok' | 'port taken' {
  const e = s.entry;
  const tcp = (name: number, v: number | Buffer, what: string) => setOpt(ctx, fd, K.SOL_TCP, name, v, what, why);
  tcp(K.TCP_REPAIR, 1, 'TCP_REPAIR');
  setOpt(ctx, fd, K.SOL_SOCKET, K.SO_RCVBUFFORCE, INT_MAX >> 1, 'SO_RCVBUFFORCE', why);
  if (portReleased) {
    setOpt(ctx, fd, K.SOL_IP, K.IP_BIND_ADDRESS_NO_PORT, 1, 'IP_BIND_ADDRESS_NO_PORT', why);
    setOpt(ctx, fd, K.SOL_IP, K.IP_LOCAL_PORT_RANGE, u32(src.port | (src.port << 16)), 'IP_LOCAL_PORT_RANGE', why);
  }
  const sa = sockaddr(family, portReleased ? { port: 0, addr: src.addr } : src);
  call(ctx, why, 'bind()', 'bind', fd, ctx.put(sa, 512), sa.length);
  const inqLen = num(e.inq_len);
  const rcvNxt = num(e.inq_seq) >>> 0;
  const sndNxt = num(e.outq_seq) >>> 0;
  tcp(K.TCP_REPAIR_QUEUE, K.TCP_RECV_QUEUE, 'TCP_REPAIR_QUEUE');
  tcp(K.TCP_QUEUE_SEQ, u32(rcvNxt - inqLen), 'TCP_QUEUE_SEQ');
  tcp(K.TCP_REPAIR_QUEUE, K.TCP_SEND_QUEUE, 'TCP_REPAIR_QUEUE');
  tcp(K.TCP_QUEUE_SEQ, u32(sndNxt), 'TCP_QUEUE_SEQ');
  const da = sockaddr(family, dst);
  const r = ctx.raw('connect', fd, ctx.put(da, 512), da.length);
  if (r < 0n && portReleased) return 'port taken';
  if (r < 0n) {
    const err = errnoName(Number(-r));
    const hint = err === 'EADDRNOTAVAIL' ? ': these four addresses are in TIME_WAIT on this machine (the dumped connection\'s own, without TCP timestamps?); retry when it has expired (60 s)' : '';
    throw new RestoreError('FAILED', `${err} from connect() in repair mode restoring ${why}${hint}`);
  }
  if (portReleased) {
    const name = Buffer.alloc(28);
    const len = u32(name.length);
    call(ctx, why, 'getsockname()', 'getsockname', fd, ctx.put(name, 0), ctx.put(len, 64));
    const port = ctx.get(0, 4).readUInt16BE(2);
    if (port !== src.port) return 'port taken';
  }
  if (inqLen > 0) {
    tcp(K.TCP_REPAIR_QUEUE, K.TCP_RECV_QUEUE, 'TCP_REPAIR_QUEUE');
    sendAll(ctx, fd, s.inq.subarray(0, inqLen), why, 'receive');
  }
  tcp(K.TCP_REPAIR_QUEUE, K.TCP_NO_QUEUE, 'TCP_REPAIR_QUEUE');
  forge(family, dst, src, rcvNxt, sndNxt, TH_RST | TH_ACK, 0, why);
  waitState(ctx, fd, [K.TCP_CLOSE], 'a reset forged from the peer', why);
  const err = Buffer.alloc(4);
  call(ctx, why, 'getsockopt(SO_ERROR)', 'getsockopt', fd, K.SOL_SOCKET, K.SO_ERROR, ctx.put(err, 0), ctx.put(u32(4), 64));
  tcp(K.TCP_REPAIR, 0, 'TCP_REPAIR off');
  if (portReleased) {
    setOpt(ctx, fd, K.SOL_IP, K.IP_LOCAL_PORT_RANGE, 0, 'IP_LOCAL_PORT_RANGE', why);
    setOpt(ctx, fd, K.SOL_IP, K.IP_BIND_ADDRESS_NO_PORT, 0, 'IP_BIND_ADDRESS_NO_PORT', why);
  }
  return 'ok';
}
