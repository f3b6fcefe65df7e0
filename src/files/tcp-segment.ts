/**
 * A bare TCP segment (no data, no options) with its IPv4 or IPv6 header, as a raw socket with
 * IP_HDRINCL sends it: restore replays a peer's FIN or ACK to a connection rebuilt in repair mode
 * (the only way into its receive side; tcp-fin.ts). Wire format: network byte order throughout.
 */

export const TH_FIN = 0x01;
export const TH_RST = 0x04;
export const TH_ACK = 0x10;

export interface SegmentSpec {
  /** 4 (IPv4) or 16 (IPv6) address bytes, network order. */
  src: Buffer;
  dst: Buffer;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  /** The window field as sent (already shifted by the sender's window scale). */
  window: number;
}

const TCP_HEADER = 20;
const IPPROTO_TCP = 6;

/** The Internet checksum (RFC 1071) of `parts`, summed as one byte string. */
export function inetChecksum(...parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i + 1 < all.length; i += 2) sum += all.readUInt16BE(i);
  if (all.length % 2) sum += all[all.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function tcpHeader(s: SegmentSpec): Buffer {
  const t = Buffer.alloc(TCP_HEADER);
  t.writeUInt16BE(s.sport, 0);
  t.writeUInt16BE(s.dport, 2);
  t.writeUInt32BE(s.seq >>> 0, 4);
  t.writeUInt32BE(s.ack >>> 0, 8);
  t[12] = (TCP_HEADER / 4) << 4;
  t[13] = s.flags;
  t.writeUInt16BE(Math.min(Math.max(s.window, 0), 0xffff), 14);
  return t;
}

/** The IPv4 or IPv6 packet carrying the segment (by the length of `src`). */
export function buildSegment(s: SegmentSpec): Buffer {
  if (s.src.length !== s.dst.length || (s.src.length !== 4 && s.src.length !== 16)) throw new Error(`buildSegment: addresses of ${s.src.length} and ${s.dst.length} bytes`);
  const tcp = tcpHeader(s);
  if (s.src.length === 4) {
    const pseudo = Buffer.alloc(12);
    s.src.copy(pseudo, 0);
    s.dst.copy(pseudo, 4);
    pseudo[9] = IPPROTO_TCP;
    pseudo.writeUInt16BE(TCP_HEADER, 10);
    tcp.writeUInt16BE(inetChecksum(pseudo, tcp), 16);
    const ip = Buffer.alloc(20);
    ip[0] = 0x45; // version 4, 5 words
    ip.writeUInt16BE(20 + TCP_HEADER, 2);
    ip.writeUInt16BE(0x4000, 6); // don't fragment
    ip[8] = 64;
    ip[9] = IPPROTO_TCP;
    s.src.copy(ip, 12);
    s.dst.copy(ip, 16);
    ip.writeUInt16BE(inetChecksum(ip), 10);
    return Buffer.concat([ip, tcp]);
  }
  const pseudo = Buffer.alloc(40);
  s.src.copy(pseudo, 0);
  s.dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(TCP_HEADER, 32);
  pseudo[39] = IPPROTO_TCP;
  tcp.writeUInt16BE(inetChecksum(pseudo, tcp), 16);
  const ip = Buffer.alloc(40);
  ip[0] = 0x60; // version 6
  ip.writeUInt16BE(TCP_HEADER, 4);
  ip[6] = IPPROTO_TCP;
  ip[7] = 64;
  s.src.copy(ip, 8);
  s.dst.copy(ip, 24);
  return Buffer.concat([ip, tcp]);
}
