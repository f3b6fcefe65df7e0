// Raw sockets (SOCK_RAW, any protocol) and ping sockets (SOCK_DGRAM with IPPROTO_ICMP or
// IPPROTO_ICMPV6) of the inet kind (inet.ts), as CRIU 4.2 writes them into inet_sk_entry: the
// address they are bound to (a raw socket's port is its protocol, a ping socket's its ICMP echo
// identifier), their peer when connected, and ip_opts.raw (IP_HDRINCL, IP_NODEFRAG, the ICMP type
// filters). sock_diag has no ping sockets and lists raw ones only with CONFIG_INET_RAW_DIAG, so
// state and peer come from the task's /proc/PID/net/{raw,raw6,icmp,icmp6}; a peer connected with
// port 0 is ENOTCONN to getpeername.
import { readFileSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import type { FileTable } from '../shared/file-table.js';
import { DumpError } from '../shared/dump-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { POLLHUP, POLLRDHUP, pollFd, readU32, writeU32 } from '../sys/index.js';
import { num } from '../shared/constants.js';
import * as K from './inet-consts.js';
import { getInt, getOpt, setOpt } from './inet-opts.js';
import type { InetAddr } from './inet-addr.js';

export const IPPROTO_ICMP = 1;
export const IPPROTO_ICMPV6 = 58;
const IP_HDRINCL = 3;
const IP_NODEFRAG = 22;
const SOL_RAW = 255;
const ICMP_FILTER = 1;
const SOL_ICMPV6 = 58;
const ICMPV6_FILTER = 1;
const IPV6_CHECKSUM = 7;
const IPV6_HDRINCL = 36;
/** Where a new raw IPv6 socket's kernel checksum goes, by protocol (ICMPv6, Mobility Header); -1: none. */
const CHECKSUM_AT: Record<number, number> = { [IPPROTO_ICMPV6]: 2, 135: 4 };

/** A ping socket: ICMP echo requests without CAP_NET_RAW (net.ipv4.ping_group_range). */
export const isPing = (type: number, proto: number): boolean => type === K.SOCK_DGRAM && (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6);
/** Raw or ping: the kinds this module knows, which sock_diag does not list. */
export const isRawOrPing = (type: number, proto: number): boolean => type === K.SOCK_RAW || isPing(type, proto);

/** One socket's line of /proc/PID/net/{raw,icmp}[6]. */
interface ProcNetSocket { state: number; dst: InetAddr }

/** Tables read once per dump: file path -> inode -> socket. */
const tables = new WeakMap<FileTable, Map<string, Map<number, ProcNetSocket>>>();

/** An address column ('0100007F:0000'): the kernel prints each 32-bit word of the address as a host-order number. */
function parseAddr(text: string): InetAddr {
  const [hex, port] = text.split(':') as [string, string];
  const addr = Buffer.alloc(hex.length / 2);
  for (let i = 0; i < hex.length / 8; i++) writeU32(addr, parseInt(hex.slice(i * 8, i * 8 + 8), 16), i * 4);
  return { addr, port: parseInt(port, 16) };
}

function readTable(file: string): Map<number, ProcNetSocket> {
  const out = new Map<number, ProcNetSocket>();
  for (const line of readFileSync(file, 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    out.set(Number(f[9]), { state: parseInt(f[3]!, 16), dst: parseAddr(f[2]!) });
  }
  return out;
}

/** State (ESTABLISHED when connected, else CLOSE) and peer of a raw or ping socket of task `pid`. */
export function rawPingState(table: FileTable, pid: number, family: number, type: number, inode: number): { state: number; dst?: InetAddr } {
  const file = `/proc/${pid}/net/${type === K.SOCK_RAW ? 'raw' : 'icmp'}${family === K.AF_INET6 ? '6' : ''}`;
  let byFile = tables.get(table);
  if (!byFile) tables.set(table, (byFile = new Map()));
  let t = byFile.get(file);
  if (!t) byFile.set(file, (t = readTable(file)));
  // A ping socket never bound is not in the table yet: unconnected.
  const s = t.get(inode);
  return s?.state === K.TCP_ESTABLISHED ? { state: K.TCP_ESTABLISHED, dst: s.dst } : { state: K.TCP_CLOSE };
}

/**
 * sk_shutdown of a datagram socket sock_diag does not list, from poll: RDHUP is the receive side,
 * HUP both. A send side shut alone shows nowhere: it is not kept.
 */
export function pollShutdown(fd: number): number {
  const revents = pollFd(fd, POLLRDHUP | POLLHUP, 0);
  return revents & POLLHUP ? 3 : revents & POLLRDHUP ? 1 : 0;
}

/** ip_opts_entry.raw of a raw socket: header inclusion, no-fragment, the ICMP type filter. */
export function dumpRawOpts(fd: number, family: number, proto: number, me: string): MessageValue {
  const r: MessageValue = {};
  if (family === K.AF_INET6) {
    r.hdrincl = getInt(fd, K.SOL_IPV6, IPV6_HDRINCL) !== 0;
    const sum = getInt(fd, K.SOL_IPV6, IPV6_CHECKSUM);
    if (sum !== (CHECKSUM_AT[proto] ?? -1)) {
      throw new DumpError('UNSUPPORTED', `${me} is a raw IPv6 socket with IPV6_CHECKSUM at offset ${sum}, not its protocol's default: cryo cannot dump that yet (neither can CRIU)`);
    }
    if (proto === IPPROTO_ICMPV6) r.icmpv_filter = words(getOpt(fd, SOL_ICMPV6, ICMPV6_FILTER, 32));
  } else {
    r.hdrincl = getInt(fd, K.SOL_IP, IP_HDRINCL) !== 0;
    if (getInt(fd, K.SOL_IP, IP_NODEFRAG) !== 0) r.nodefrag = true;
    if (proto === IPPROTO_ICMP) r.icmpv_filter = words(getOpt(fd, SOL_RAW, ICMP_FILTER, 4));
  }
  return r;
}

const words = (b: Buffer): number[] => Array.from({ length: b.length / 4 }, (_, i) => readU32(b, i * 4));

/** Sets ip_opts_entry.raw on the task's raw socket (hdrincl both ways: IPPROTO_RAW starts with it on). */
export function restoreRawOpts(ctx: TaskCtx, fd: number, family: number, proto: number, r: MessageValue | undefined, why: string): void {
  if (!r) return;
  const v6 = family === K.AF_INET6;
  if (r.hdrincl !== undefined) setOpt(ctx, fd, v6 ? K.SOL_IPV6 : K.SOL_IP, v6 ? IPV6_HDRINCL : IP_HDRINCL, r.hdrincl === true ? 1 : 0, v6 ? 'IPV6_HDRINCL' : 'IP_HDRINCL', why);
  if (r.nodefrag === true && !v6) setOpt(ctx, fd, K.SOL_IP, IP_NODEFRAG, 1, 'IP_NODEFRAG', why);
  const filter = (r.icmpv_filter as (number | bigint)[] | undefined) ?? [];
  if (filter.length > 0 && proto === (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
    const b = Buffer.alloc(v6 ? 32 : 4);
    filter.slice(0, b.length / 4).forEach((w, i) => writeU32(b, num(w) >>> 0, i * 4));
    setOpt(ctx, fd, v6 ? SOL_ICMPV6 : SOL_RAW, v6 ? ICMPV6_FILTER : ICMP_FILTER, b, v6 ? 'ICMPV6_FILTER' : 'ICMP_FILTER', why);
  }
}
