// Socket options of a TCP/UDP socket as CRIU 4.2 keeps them: sk_opts_entry (SOL_SOCKET),
// ip_opts_entry (SOL_IP / SOL_IPV6) and tcp_opts_entry (SOL_TCP). Dump reads them with getsockopt
// on cryo's copy of the descriptor; restore sets them by injected setsockopt in the task, in
// CRIU's order (buffer sizes first; a value equal to the kernel default is still set where CRIU sets it).
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { errnoName, rawSyscall, readI32, readU32, readU64, writeI32, writeU16, writeU32, writeU64 } from '../sys/index.js';
import * as K from './inet-consts.js';
import { big, num } from '../shared/constants.js';

/** getsockopt on cryo's descriptor: the value's bytes (as long as the kernel says). */
export function getOpt(fd: number, level: number, name: number, size = 4): Buffer {
  const b = Buffer.alloc(size);
  const len = Buffer.alloc(4);
  writeU32(len, size, 0);
  rawSyscall('getsockopt', fd, level, name, b, len);
  return b.subarray(0, readU32(len, 0));
}

export const getInt = (fd: number, level: number, name: number): number => readI32(getOpt(fd, level, name), 0);

/** Injected setsockopt in the task; a failure is one line naming the option and the descriptor. */
export function setOpt(ctx: TaskCtx, fd: number, level: number, name: number, value: number | Buffer, what: string, why: string): void {
  let b = value as Buffer;
  if (typeof value === 'number') {
    b = Buffer.alloc(4);
    writeI32(b, value, 0);
  }
  const r = ctx.raw('setsockopt', fd, level, name, ctx.put(b, 0), b.length);
  if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from setsockopt(${what}) restoring ${why}`);
}

/** Number of classic BPF instructions attached with SO_ATTACH_FILTER (0: none). */
export function socketFilterLength(fd: number): number {
  const len = Buffer.alloc(4);
  rawSyscall('getsockopt', fd, K.SOL_SOCKET, K.SO_GET_FILTER, 0, len);
  return readU32(len, 0);
}

/** The classic BPF program attached with SO_ATTACH_FILTER, one u64 per instruction (struct sock_filter's 8 bytes, host order, as CRIU keeps it). */
export function socketFilter(fd: number): bigint[] {
  const n = socketFilterLength(fd);
  if (n === 0) return [];
  const b = Buffer.alloc(n * 8);
  const len = Buffer.alloc(4);
  writeU32(len, n, 0); // counted in instructions, not bytes
  rawSyscall('getsockopt', fd, K.SOL_SOCKET, K.SO_GET_FILTER, b, len);
  return Array.from({ length: readU32(len, 0) }, (_, i) => readU64(b, i * 8));
}

/** Where in the task's scratch memory the filter goes (after what setOpt uses), and how much fits. */
const FILTER_AT = 4096;
export const MAX_FILTER_INSNS = 1024;

/** SO_ATTACH_FILTER (the same number as SO_GET_FILTER) in the task: struct sock_fprog { u16 len; struct sock_filter *filter; }. */
function attachFilter(ctx: TaskCtx, fd: number, insns: readonly bigint[], why: string): void {
  const prog = Buffer.alloc(insns.length * 8);
  insns.forEach((x, i) => writeU64(prog, BigInt.asUintN(64, x), i * 8));
  const at = ctx.put(prog, FILTER_AT + 16);
  const fprog = Buffer.alloc(16);
  writeU16(fprog, insns.length, 0);
  writeU64(fprog, at, 8);
  const r = ctx.raw('setsockopt', fd, K.SOL_SOCKET, K.SO_GET_FILTER, ctx.put(fprog, FILTER_AT), 16);
  if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} from setsockopt(SO_ATTACH_FILTER) restoring ${why}`);
}

/** sk_opts_entry of cryo's descriptor `fd` (as CRIU's dump_socket_opts for an inet socket). */
export function dumpSkOpts(fd: number): MessageValue {
  const flag = (name: number) => getInt(fd, K.SOL_SOCKET, name) !== 0;
  const tv = (name: number) => {
    const b = getOpt(fd, K.SOL_SOCKET, name, 16);
    return [readU64(b, 0), readU64(b, 8)] as const;
  };
  const [sndSec, sndUsec] = tv(K.SO_SNDTIMEO);
  const [rcvSec, rcvUsec] = tv(K.SO_RCVTIMEO);
  const o: MessageValue = {
    so_sndbuf: getInt(fd, K.SOL_SOCKET, K.SO_SNDBUF) >>> 0,
    so_rcvbuf: getInt(fd, K.SOL_SOCKET, K.SO_RCVBUF) >>> 0,
    so_snd_tmo_sec: sndSec, so_snd_tmo_usec: sndUsec, so_rcv_tmo_sec: rcvSec, so_rcv_tmo_usec: rcvUsec,
    reuseaddr: flag(K.SO_REUSEADDR),
    so_priority: getInt(fd, K.SOL_SOCKET, K.SO_PRIORITY) >>> 0,
    so_rcvlowat: getInt(fd, K.SOL_SOCKET, K.SO_RCVLOWAT) >>> 0,
  };
  const mark = getInt(fd, K.SOL_SOCKET, K.SO_MARK) >>> 0;
  if (mark !== 0) o.so_mark = mark;
  o.so_dontroute = flag(K.SO_DONTROUTE);
  o.so_no_check = flag(K.SO_NO_CHECK);
  const dev = getOpt(fd, K.SOL_SOCKET, K.SO_BINDTODEVICE, 16);
  if (dev.length > 0 && dev[0] !== 0) o.so_bound_dev = dev.toString('latin1').replace(/\0.*$/s, '');
  o.so_reuseport = flag(K.SO_REUSEPORT);
  o.so_broadcast = flag(K.SO_BROADCAST);
  o.so_keepalive = flag(K.SO_KEEPALIVE);
  o.so_oobinline = flag(K.SO_OOBINLINE) ? 1 : 0;
  const linger = getOpt(fd, K.SOL_SOCKET, K.SO_LINGER, 8);
  if (readI32(linger, 0) !== 0) o.so_linger = readI32(linger, 4) >>> 0;
  o.so_buf_lock = getInt(fd, K.SOL_SOCKET, K.SO_BUF_LOCK) >>> 0;
  return o;
}

/** Sets sk_opts_entry on the task's socket (SO_REUSEADDR/SO_REUSEPORT are the kind's: see inet.ts). */
export function restoreSkOpts(ctx: TaskCtx, fd: number, o: MessageValue, why: string): void {
  const set = (name: number, v: number | Buffer, what: string) => setOpt(ctx, fd, K.SOL_SOCKET, name, v, what, why);
  // The kernel doubles what it is given; the image holds the doubled values. FORCE: beyond rmem_max/wmem_max, as they were.
  set(K.SO_SNDBUFFORCE, Math.floor(num(o.so_sndbuf) / 2), 'SO_SNDBUFFORCE');
  set(K.SO_RCVBUFFORCE, Math.floor(num(o.so_rcvbuf) / 2), 'SO_RCVBUFFORCE');
  // Setting the sizes locked them; SO_BUF_LOCK puts the locks back as they were (autotuning where it was).
  if (o.so_buf_lock !== undefined) set(K.SO_BUF_LOCK, num(o.so_buf_lock), 'SO_BUF_LOCK');
  if (o.so_priority !== undefined) set(K.SO_PRIORITY, num(o.so_priority), 'SO_PRIORITY');
  if (o.so_rcvlowat !== undefined) set(K.SO_RCVLOWAT, num(o.so_rcvlowat), 'SO_RCVLOWAT');
  if (o.so_mark !== undefined) set(K.SO_MARK, num(o.so_mark), 'SO_MARK');
  if (o.so_dontroute === true) set(K.SO_DONTROUTE, 1, 'SO_DONTROUTE');
  if (o.so_no_check === true) set(K.SO_NO_CHECK, 1, 'SO_NO_CHECK');
  if (o.so_broadcast === true) set(K.SO_BROADCAST, 1, 'SO_BROADCAST');
  if (num(o.so_oobinline) !== 0) set(K.SO_OOBINLINE, 1, 'SO_OOBINLINE');
  if (o.so_linger !== undefined) {
    const l = Buffer.alloc(8);
    writeI32(l, 1, 0);
    writeI32(l, num(o.so_linger), 4);
    set(K.SO_LINGER, l, 'SO_LINGER');
  }
  if (o.so_keepalive === true) set(K.SO_KEEPALIVE, 1, 'SO_KEEPALIVE');
  const tv = (sec: unknown, usec: unknown) => {
    const b = Buffer.alloc(16);
    writeU64(b, big(sec), 0);
    writeU64(b, big(usec), 8);
    return b;
  };
  set(K.SO_SNDTIMEO, tv(o.so_snd_tmo_sec, o.so_snd_tmo_usec), 'SO_SNDTIMEO');
  set(K.SO_RCVTIMEO, tv(o.so_rcv_tmo_sec, o.so_rcv_tmo_usec), 'SO_RCVTIMEO');
  if (typeof o.so_bound_dev === 'string' && o.so_bound_dev !== '') set(K.SO_BINDTODEVICE, Buffer.from(`${o.so_bound_dev}\0`), 'SO_BINDTODEVICE');
  const filter = ((o.so_filter as (bigint | number)[] | undefined) ?? []).map((x) => BigInt(x));
  if (filter.length > MAX_FILTER_INSNS) {
    throw new RestoreError('UNSUPPORTED', `${why} has a socket filter of ${filter.length} instructions: cryo restores at most ${MAX_FILTER_INSNS}`);
  }
  if (filter.length > 0) attachFilter(ctx, fd, filter, why);
}

/** ip_opts_entry (as CRIU's dump_ip_opts for TCP/UDP: a field only where it is set). */
export function dumpIpOpts(fd: number, family: number): MessageValue {
  const o: MessageValue = {};
  const put = (field: string, v: number, bool = false) => { if (v !== 0) o[field] = bool ? true : v >>> 0; };
  if (family === K.AF_INET6) {
    put('freebind', getInt(fd, K.SOL_IPV6, K.IPV6_FREEBIND), true);
    put('pktinfo', getInt(fd, K.SOL_IPV6, K.IPV6_RECVPKTINFO), true);
  } else {
    put('freebind', getInt(fd, K.SOL_IP, K.IP_FREEBIND), true);
    put('pktinfo', getInt(fd, K.SOL_IP, K.IP_PKTINFO), true);
    put('tos', getInt(fd, K.SOL_IP, K.IP_TOS));
    put('ttl', getInt(fd, K.SOL_IP, K.IP_TTL));
  }
  return o;
}

export function restoreIpOpts(ctx: TaskCtx, fd: number, family: number, o: MessageValue | undefined, why: string): void {
  if (!o) return;
  const set = (level: number, name: number, v: unknown, what: string) => {
    if (v !== undefined) setOpt(ctx, fd, level, name, v === true ? 1 : v === false ? 0 : num(v), what, why);
  };
  if (family === K.AF_INET6) {
    set(K.SOL_IPV6, K.IPV6_FREEBIND, o.freebind, 'IPV6_FREEBIND');
    set(K.SOL_IPV6, K.IPV6_RECVPKTINFO, o.pktinfo, 'IPV6_RECVPKTINFO');
  } else {
    set(K.SOL_IP, K.IP_FREEBIND, o.freebind, 'IP_FREEBIND');
    set(K.SOL_IP, K.IP_PKTINFO, o.pktinfo, 'IP_PKTINFO');
    set(K.SOL_IP, K.IP_TOS, o.tos, 'IP_TOS');
    set(K.SOL_IP, K.IP_TTL, o.ttl, 'IP_TTL');
  }
}

const TCP_OPTS: [string, number, string][] = [
  ['nodelay', K.TCP_NODELAY, 'TCP_NODELAY'], ['cork', K.TCP_CORK, 'TCP_CORK'], ['keepcnt', K.TCP_KEEPCNT, 'TCP_KEEPCNT'],
  ['keepidle', K.TCP_KEEPIDLE, 'TCP_KEEPIDLE'], ['keepintvl', K.TCP_KEEPINTVL, 'TCP_KEEPINTVL'],
];

/** tcp_opts_entry (as CRIU's dump_tcp_opts: a field only where it is not zero). */
export function dumpTcpOpts(fd: number): MessageValue {
  const o: MessageValue = {};
  for (const [field, name] of TCP_OPTS) {
    const v = getInt(fd, K.SOL_TCP, name);
    if (v !== 0) o[field] = field === 'nodelay' || field === 'cork' ? true : v >>> 0;
  }
  return o;
}

export function restoreTcpOpts(ctx: TaskCtx, fd: number, o: MessageValue | undefined, why: string): void {
  for (const [field, name, what] of TCP_OPTS) {
    const v = o?.[field];
    if (v !== undefined) setOpt(ctx, fd, K.SOL_TCP, name, v === true ? 1 : v === false ? 0 : num(v), what, why);
  }
}
