// The packets queued on a unix socket (sk-queues.img: sk_packet_entry, then the payload), read at
// dump time without taking them from the task (MSG_PEEK with SO_PEEK_OFF, as CRIU 4.2), and sent
// again at restore time from a socket whose peer is the queue's owner, so they arrive in order
// and with their boundaries.
import { closeSync } from 'node:fs';
import { addressOf, rawSyscall, SysError, processVmWritev, readI32, readU64, writeI32, writeU64, iovecBytes } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import { RestoreError } from '../shared/restore-error.js';
import type { MessageValue } from '../images/value.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { injectMmap } from '../inject/index.js';
import { SO, getIntOpt, setIntOpt } from './socket-opts.js';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '../arch/mman.js';

const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const MSG_NOSIGNAL = 0x4000;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SCM_RIGHTS = 1;
/** struct msghdr and struct cmsghdr of a 64-bit host. */
const MSGHDR = { size: 56, iov: 16, iovlen: 24, control: 32, controllen: 40, flags: 48 } as const;
const CMSGHDR = { size: 16, len: 0, level: 8, type: 12 } as const;
const CONTROL_BYTES = 1024;
/** Room for any datagram the socket may hold; CRIU uses the send buffer size. */
const MIN_PEEK = 256 * 1024;

export interface QueuedPacket { value: MessageValue; extra: Buffer }

/** A struct msghdr of one iovec at `iov` and `controlLen` bytes of control messages at `control` (addresses where it is used). */
function msghdr(iov: bigint, control: bigint, controlLen: number): Buffer {
  const msg = Buffer.alloc(MSGHDR.size);
  writeU64(msg, iov, MSGHDR.iov);
  writeU64(msg, 1n, MSGHDR.iovlen);
  writeU64(msg, control, MSGHDR.control);
  writeU64(msg, BigInt(controlLen), MSGHDR.controllen);
  return msg;
}

/** One SCM_RIGHTS control message carrying `fds`, padded to 8 bytes. */
function rightsControl(fds: readonly number[]): Buffer {
  const clen = CMSGHDR.size + 4 * fds.length;
  const control = Buffer.alloc((clen + 7) & ~7);
  writeU64(control, BigInt(clen), CMSGHDR.len);
  writeI32(control, 1, CMSGHDR.level); // SOL_SOCKET
  writeI32(control, SCM_RIGHTS, CMSGHDR.type);
  fds.forEach((fd, i) => writeI32(control, fd, CMSGHDR.size + 4 * i));
  return control;
}

/**
 * Has the kernel run its unix garbage collector, which frees the sockets that only in-flight
 * SCM_RIGHTS messages keep (a killed task's loop of sockets sent in each other's queues, which
 * keep their names bound): one end of a fresh pair sent over the other, then both closed, as
 * any program passing descriptors would.
 */
export function collectUnixGarbage(): void {
  const pair = new Int32Array(2);
  rawSyscall('socketpair', 1 /* AF_UNIX */, 2 /* SOCK_DGRAM */ | 0o2000000 /* SOCK_CLOEXEC */, 0, pair);
  try {
    const control = rightsControl([pair[1]!]);
    const byte = Buffer.alloc(1);
    const iov = iovecBytes(addressOf(byte), 1);
    const msg = msghdr(addressOf(iov), addressOf(control), control.length);
    rawSyscall('sendmsg', pair[0]!, msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } finally {
    closeSync(pair[0]!);
    closeSync(pair[1]!);
  }
}

/**
 * Every packet queued to be read on the socket `fd` (cryo's copy of the task's), as sk-queues.img
 * entries for file id `id`. The task's view is unchanged: peeking leaves the queue, and the peek
 * offset is put back as it was. Descriptors in flight (SCM_RIGHTS) arrive as cryo's own copies:
 * `inFlight` takes them and gives the list their file ids will fill (scm_entry.rights).
 */
export function peekQueue(fd: number, id: number, why: string, inFlight?: (fds: number[]) => number[]): QueuedPacket[] {
  const size = Math.max(MIN_PEEK, getIntOpt(fd, SO.SNDBUF), getIntOpt(fd, SO.RCVBUF));
  const data = Buffer.alloc(size);
  const control = Buffer.alloc(CONTROL_BYTES);
  const iov = iovecBytes(addressOf(data), size);
  const out: QueuedPacket[] = [];
  const orig = getIntOpt(fd, SO.PEEK_OFF);
  setIntOpt(fd, SO.PEEK_OFF, 0);
  try {
    for (;;) {
      // Afresh each time: recvmsg writes the lengths it used back.
      const msg = msghdr(addressOf(iov), addressOf(control), CONTROL_BYTES);
      let n: number;
      try {
        n = Number(rawSyscall('recvmsg', fd, msg, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
      } catch (e) {
        // EINVAL (stream) and ENOTCONN (seqpacket): a socket neither connected nor listening,
        // which cannot hold a queue.
        if (e instanceof SysError && (e.code === 'EAGAIN' || e.code === 'EINVAL' || e.code === 'ENOTCONN')) break;
        throw e;
      }
      const controllen = Number(readU64(msg, MSGHDR.controllen));
      const fds = controllen > 0 ? rightsIn(control, controllen, why, inFlight !== undefined) : [];
      if (n === 0 && fds.length === 0) break; // the peer shut down writing: nothing more (as CRIU)
      if (readI32(msg, MSGHDR.flags) & MSG_TRUNC) throw new DumpError('UNSUPPORTED', `${why}: a queued packet is larger than ${size} bytes: cryo cannot dump it`);
      const value: MessageValue = { id_for: id, length: n };
      if (fds.length > 0) value.scm = [{ type: SCM_RIGHTS, rights: inFlight!(fds) }];
      out.push({ value, extra: Buffer.from(data.subarray(0, n)) });
      // An empty packet does not move the peek offset: it is the last one read.
      if (n === 0) break;
    }
  } finally {
    setIntOpt(fd, SO.PEEK_OFF, orig);
  }
  return out;
}

/**
 * The descriptors of the SCM_RIGHTS messages in `control` (cryo's copies); any other control
 * message (credentials), or descriptors when `allowed` is false, is refused (the copies closed).
 */
function rightsIn(control: Buffer, len: number, why: string, allowed: boolean): number[] {
  const fds: number[] = [];
  let other = false;
  for (let p = 0; p + CMSGHDR.size <= len;) {
    const clen = Number(readU64(control, p + CMSGHDR.len));
    if (clen < CMSGHDR.size) break;
    if (readI32(control, p + CMSGHDR.level) === 1 && readI32(control, p + CMSGHDR.type) === SCM_RIGHTS) {
      for (let q = p + CMSGHDR.size; q + 4 <= p + clen; q += 4) fds.push(readI32(control, q));
    } else {
      other = true;
    }
    p += (clen + 7) & ~7;
  }
  if (other || (!allowed && fds.length > 0)) {
    for (const fd of fds) try { closeSync(fd); } catch { /* not ours */ }
    throw new DumpError('UNSUPPORTED', `${why} has ${other ? 'control messages other than descriptors (credentials?)' : 'descriptors in flight (SCM_RIGHTS)'} in its queue: cryo cannot dump that yet`);
  }
  return fds;
}

/** One packet to put back: its bytes and the file ids it carries in flight (SCM_RIGHTS). */
export interface Packet { data: Buffer; rights: number[] }

/** The packets of sk-queues.img for file id `id`, in order. */
export function packetsFor(ctx: TaskCtx, id: number): Packet[] {
  const img = ctx.img.all.get('sk-queues.img');
  return (img?.entries ?? [])
    .filter((e) => Number(e.value.id_for) === id)
    .map((e) => ({
      data: Buffer.isBuffer(e.extra) ? e.extra : Buffer.alloc(0),
      rights: ((e.value.scm as MessageValue[] | undefined) ?? []).flatMap((m) => ((m.rights as number[] | undefined) ?? []).map(Number)),
    }));
}

const SCRATCH_AT = 8192;
const SCRATCH_ROOM = 8192;

/** Scratch offsets of the msghdr, its iovec and its control buffer (up to SCM_MAX_FD descriptors). */
const MSG_AT = 1024;
const IOV_AT = 1152;
const CONTROL_AT = 2048;
const SCM_MAX_FD = 253;

/**
 * Sends `packets` from the task's socket `from` (connected to the queue's owner), each with one
 * sendto (sendmsg with SCM_RIGHTS for one that carries descriptors) so datagram and seqpacket
 * boundaries stay. Large packets go through a temporary mapping. `descriptors` gives, for a
 * packet's file ids, descriptors of the task to send (and closes them after).
 */
export function sendPackets(ctx: TaskCtx, from: number, packets: Packet[], why: string, descriptors?: (ids: number[]) => { fds: number[]; done(): void }): void {
  if (packets.length === 0) return;
  const biggest = Math.max(...packets.map((p) => p.data.length));
  let buf = 0n;
  let mapped = 0;
  if (biggest > SCRATCH_ROOM) {
    mapped = (biggest + 4095) & ~4095;
    buf = injectMmap(ctx.inj, 0, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  try {
    for (const { data: p, rights } of packets) {
      let at: bigint;
      if (mapped) {
        if (processVmWritev(ctx.pid, buf, p) !== p.length) throw new Error(`cannot write a queued packet into task ${ctx.pid}`);
        at = buf;
      } else {
        at = p.length > 0 ? ctx.put(p, SCRATCH_AT) : ctx.scratch!.addr + BigInt(SCRATCH_AT);
      }
      let r: bigint;
      if (rights.length === 0) {
        r = ctx.raw('sendto', from, at, p.length, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
      } else {
        if (!descriptors || rights.length > SCM_MAX_FD) throw new RestoreError('UNSUPPORTED', `the queue of ${why} holds ${rights.length} descriptors in one packet: cryo cannot send them back`);
        const held = descriptors(rights);
        try {
          r = ctx.raw('sendmsg', from, rightsMessage(ctx, at, p.length, held.fds), MSG_DONTWAIT | MSG_NOSIGNAL);
        } finally {
          held.done();
        }
      }
      if (r !== BigInt(p.length)) {
        throw new RestoreError('FAILED', r < 0n ? `errno ${-r} from sending back the queue of ${why}` : `the queue of ${why}: a ${p.length}-byte packet went out as ${r} bytes`);
      }
    }
  } finally {
    if (mapped) ctx.call('munmap', buf, mapped);
  }
}

/** A msghdr in the task's scratch memory: `len` bytes at `at` and an SCM_RIGHTS message with `fds`. */
function rightsMessage(ctx: TaskCtx, at: bigint, len: number, fds: number[]): bigint {
  const control = rightsControl(fds);
  const controlAt = ctx.put(control, CONTROL_AT);
  const iov = ctx.put(iovecBytes(at, len), IOV_AT);
  return ctx.put(msghdr(iov, controlAt, control.length), MSG_AT);
}
