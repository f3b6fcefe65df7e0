// The service's end of the client's wire (native/cryo_client.c has the format): the peer's
// credentials, and the request with the client's three standard descriptors (SCM_RIGHTS). Node's
// own sockets drop passed descriptors, so the request is read here with recvmsg on the
// connection's descriptor, before Node reads from it.

import { closeSync } from 'node:fs';
import { POLLIN, addressOf, iovecBytes, pollFd, rawSyscall, readI32, readU32, readU64, SysError, writeU32, writeU64 } from '../../sys/index.js';
import { SO, SOL_SOCKET } from '../../files/socket-opts.js';

const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SCM_RIGHTS = 1;
/** struct msghdr and struct cmsghdr of a 64-bit host (cryo's hosts are). */
const MSGHDR = { size: 56, iov: 16, iovlen: 24, control: 32, controllen: 40 } as const;
const CMSGHDR = { size: 16, len: 0, level: 8, type: 12 } as const;
const MAGIC = 'CRYOSVC1';
const HEADER = 16;
/** argv and environment together: far above any real command, a bound for a bad client. */
const MAX_BODY = 4 << 20;
/** How long a client may take to send its request, once connected. */
const REQUEST_MS = 5000;

export interface PeerCred { pid: number; uid: number; gid: number }

export interface Request {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** The client's stdin, stdout and stderr, as the service's own descriptors. */
  stdio: [number, number, number];
}

/** A request the service cannot read: a one-line reason. */
export class WireError extends Error {}

export function peerCred(fd: number): PeerCred {
  const v = Buffer.alloc(12);
  const len = Buffer.alloc(4);
  writeU32(len, 12, 0);
  rawSyscall('getsockopt', fd, SOL_SOCKET, SO.PEERCRED, v, len);
  return { pid: readI32(v, 0), uid: readU32(v, 4), gid: readU32(v, 8) };
}

/** Waits (blocking this thread, at most until `deadline`) for `fd` to be readable. */
function waitReadable(fd: number, deadline: number): void {
  const left = deadline - Date.now();
  if (left <= 0) throw new WireError(`the client sent no whole request within ${REQUEST_MS} ms`);
  pollFd(fd, POLLIN, left);
}

/** recvmsg into `into` from `off`; descriptors passed with it are appended to `fds`. */
function receive(fd: number, into: Buffer, off: number, fds: number[], deadline: number): number {
  const control = Buffer.alloc(64);
  const iov = iovecBytes(addressOf(into) + BigInt(off), into.length - off);
  for (;;) {
    const msg = Buffer.alloc(MSGHDR.size);
    writeU64(msg, addressOf(iov), MSGHDR.iov);
    writeU64(msg, 1n, MSGHDR.iovlen);
    writeU64(msg, addressOf(control), MSGHDR.control);
    writeU64(msg, BigInt(control.length), MSGHDR.controllen);
    let n: number;
    try {
      n = Number(rawSyscall('recvmsg', fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
    } catch (e) {
      if (e instanceof SysError && (e.code === 'EAGAIN' || e.code === 'EINTR')) { waitReadable(fd, deadline); continue; }
      throw e;
    }
    const clen = Number(readU64(msg, MSGHDR.controllen));
    if (clen >= CMSGHDR.size && readI32(control, CMSGHDR.level) === SOL_SOCKET && readI32(control, CMSGHDR.type) === SCM_RIGHTS) {
      const count = (Number(readU64(control, CMSGHDR.len)) - CMSGHDR.size) / 4;
      for (let i = 0; i < count; i++) fds.push(readI32(control, CMSGHDR.size + 4 * i));
    }
    if (n === 0) throw new WireError('the client closed its connection before its request was whole');
    return n;
  }
}

function receiveAll(fd: number, into: Buffer, fds: number[], deadline: number): void {
  for (let off = 0; off < into.length;) off += receive(fd, into, off, fds, deadline);
}

/** Reads one request from the connection `fd` (non-blocking; waits at most 5 s for it). */
export function readRequest(fd: number): Request {
  const deadline = Date.now() + REQUEST_MS;
  const fds: number[] = [];
  try {
    const head = Buffer.alloc(HEADER);
    receiveAll(fd, head, fds, deadline);
    if (head.toString('latin1', 0, 8) !== MAGIC) throw new WireError(`the client speaks no ${MAGIC}: rebuild cryo (npm run build) so that client and service match`);
    const bodyLen = readU32(head, 8);
    if (bodyLen > MAX_BODY) throw new WireError(`the client's request of ${bodyLen} bytes is larger than ${MAX_BODY}`);
    if (fds.length !== 3 || readU32(head, 12) !== 3) throw new WireError(`the client passed ${fds.length} descriptors, not its 3 standard ones`);
    const body = Buffer.alloc(bodyLen);
    receiveAll(fd, body, fds, deadline);
    const argc = readU32(body, 0);
    const envc = readU32(body, 4);
    const strings = body.toString('utf8', 8).split('\0');
    if (strings.length !== 1 + argc + envc + 1) throw new WireError('the client\'s request is malformed: rebuild cryo (npm run build)');
    const env: Record<string, string> = {};
    for (const kv of strings.slice(1 + argc, 1 + argc + envc)) {
      const eq = kv.indexOf('=');
      if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    return { cwd: strings[0]!, argv: strings.slice(1, 1 + argc), env, stdio: [fds[0]!, fds[1]!, fds[2]!] };
  } catch (e) {
    for (const f of fds) closeSync(f);
    throw e;
  }
}
