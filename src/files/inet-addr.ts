// IPv4/IPv6 socket addresses three ways: struct sockaddr_in/_in6 (kernel calls), inet_sk_entry's
// src_addr/dst_addr (the in_addr/in6_addr bytes as host-order u32 words, as CRIU memcpy's them),
// and text for messages ('127.0.0.1:5000', '[::1]:5000').
import { SysError, rawSyscall, readU32, writeU16, writeU32 } from '../sys/index.js';
import type { MessageValue } from '../images/value.js';
import { num } from '../shared/constants.js';
import { AF_INET, ENOTCONN, SOL_SOCKET, SO_PEERNAME } from './inet-consts.js';

export interface InetAddr {
  port: number;
  /** in_addr (4 bytes) or in6_addr (16 bytes), network byte order. */
  addr: Buffer;
}

const addrLen = (family: number): number => (family === AF_INET ? 4 : 16);

/** struct sockaddr_in / sockaddr_in6 for `family`. */
export function sockaddr(family: number, a: InetAddr): Buffer {
  const b = Buffer.alloc(family === AF_INET ? 16 : 28);
  // sa_family_t is in host order, the port in network order.
  writeU16(b, family, 0);
  b.writeUInt16BE(a.port, 2);
  a.addr.copy(b, family === AF_INET ? 4 : 8, 0, addrLen(family));
  return b;
}

/** getsockname / getpeername of cryo's descriptor `fd`; undefined when not connected. */
export function sockName(fd: number, family: number, peer: boolean): InetAddr | undefined {
  const b = Buffer.alloc(28);
  const len = Buffer.alloc(4);
  writeU32(len, b.length, 0);
  try {
    rawSyscall(peer ? 'getpeername' : 'getsockname', fd, b, len);
  } catch (e) {
    if (e instanceof SysError && e.errno === ENOTCONN) return undefined;
    throw e;
  }
  return { port: b.readUInt16BE(2), addr: Buffer.from(b.subarray(family === AF_INET ? 4 : 8, (family === AF_INET ? 4 : 8) + addrLen(family))) };
}

/**
 * The peer of a TCP socket in CLOSE whose connection ended: getpeername says ENOTCONN then, but
 * SO_PEERNAME still gives the address (undefined when it never had a peer).
 */
export function endedPeer(fd: number, family: number): InetAddr | undefined {
  // The exact sockaddr size: SO_PEERNAME refuses a longer buffer (EINVAL).
  const b = Buffer.alloc(family === AF_INET ? 16 : 28);
  const len = Buffer.alloc(4);
  writeU32(len, b.length, 0);
  try {
    rawSyscall('getsockopt', fd, SOL_SOCKET, SO_PEERNAME, b, len);
  } catch (e) {
    if (e instanceof SysError && e.errno === ENOTCONN) return undefined;
    throw e;
  }
  const port = b.readUInt16BE(2);
  return port === 0 ? undefined : { port, addr: Buffer.from(b.subarray(family === AF_INET ? 4 : 8, (family === AF_INET ? 4 : 8) + addrLen(family))) };
}

/** The address as inet_sk_entry stores it: 1 word for IPv4, 4 for IPv6. */
export function addrWords(family: number, addr: Buffer | undefined): number[] {
  const a = addr ?? Buffer.alloc(addrLen(family));
  return Array.from({ length: addrLen(family) / 4 }, (_, i) => readU32(a, i * 4));
}

/** The in_addr/in6_addr bytes of an image address (missing words are zero). */
export function addrBytes(family: number, words: unknown): Buffer {
  const b = Buffer.alloc(addrLen(family));
  const w = (words as (number | bigint)[] | undefined) ?? [];
  for (let i = 0; i < b.length / 4; i++) writeU32(b, Number(w[i] ?? 0), i * 4);
  return b;
}

/** '127.0.0.1:5000' or '[::1]:5000'. */
export function addrText(family: number, a: InetAddr): string {
  if (family === AF_INET) return `${[...a.addr.subarray(0, 4)].join('.')}:${a.port}`;
  const groups = Array.from({ length: 8 }, (_, i) => a.addr.readUInt16BE(i * 2).toString(16));
  // The longest run of zero groups becomes '::'.
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j;
  }
  const text = best[0]! < 0 ? groups.join(':') : `${groups.slice(0, best[0]).join(':')}::${groups.slice(best[0]! + best[1]!).join(':')}`;
  return `[${text}]:${a.port}`;
}

/** The `src` or `dst` address of an inet socket's image entry. */
export const addrOf = (e: MessageValue, which: 'src' | 'dst'): InetAddr => ({ port: num(e[`${which}_port`]), addr: addrBytes(num(e.family), e[`${which}_addr`]) });
