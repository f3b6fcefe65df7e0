// The packets queued on a unix socket (sk-queues.img: sk_packet_entry, then the payload), read at
// dump time without taking them from the task (MSG_PEEK with SO_PEEK_OFF, as CRIU 4.2), and sent
// again at restore time from a socket whose peer is the queue's owner, so they arrive in order
// and with their boundaries.
import { closeSync } from 'node:fs';
import { addressOf, rawSyscall, SysError, processVmWritev, readI32, readU64, writeU64, iovecBytes } from '../sys/index.js';
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

/**
 * Every packet queued to be read on the socket `fd` (cryo's copy of the task's), as sk-queues.img
 * entries for file id `id`. The task's view is unchanged: peeking leaves the queue, and the peek
 * offset is put back as it was.
 */
export function peekQueue(fd: number, id: number, why: string): QueuedPacket[] {
  const size = Math.max(MIN_PEEK, getIntOpt(fd, SO.SNDBUF), getIntOpt(fd, SO.RCVBUF));
  const data = Buffer.alloc(size);
  const control = Buffer.alloc(CONTROL_BYTES);
  const iov = iovecBytes(addressOf(data), size);
  const msg = Buffer.alloc(MSGHDR.size);
  const out: QueuedPacket[] = [];
  const orig = getIntOpt(fd, SO.PEEK_OFF);
  setIntOpt(fd, SO.PEEK_OFF, 0);
  try {
    for (;;) {
      msg.fill(0);
      writeU64(msg, addressOf(iov), MSGHDR.iov);
      writeU64(msg, 1n, MSGHDR.iovlen);
      writeU64(msg, addressOf(control), MSGHDR.control);
      writeU64(msg, BigInt(CONTROL_BYTES), MSGHDR.controllen);
      let n: number;
      try {
        n = Number(rawSyscall('recvmsg', fd, msg, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC));
      } catch (e) {
        if (e instanceof SysError && e.code === 'EAGAIN') break;
        throw e;
      }
      const controllen = Number(readU64(msg, MSGHDR.controllen));
      if (controllen > 0) refuseControl(control, controllen, why);
      if (n === 0) break; // the peer shut down writing: nothing more (as CRIU)
      if (readI32(msg, MSGHDR.flags) & MSG_TRUNC) throw new DumpError('UNSUPPORTED', `${why}: a queued packet is larger than ${size} bytes: cryo cannot dump it`);
      out.push({ value: { id_for: id, length: n }, extra: Buffer.from(data.subarray(0, n)) });
    }
  } finally {
    setIntOpt(fd, SO.PEEK_OFF, orig);
  }
  return out;
}

/** Control messages in a queue (descriptors or credentials in flight) cannot be dumped yet; peeked descriptors are closed. */
function refuseControl(control: Buffer, len: number, why: string): never {
  let what = 'control messages';
  for (let p = 0; p + CMSGHDR.size <= len;) {
    const clen = Number(readU64(control, p + CMSGHDR.len));
    if (clen < CMSGHDR.size) break;
    if (readI32(control, p + CMSGHDR.level) === 1 && readI32(control, p + CMSGHDR.type) === SCM_RIGHTS) {
      what = 'descriptors in flight (SCM_RIGHTS)';
      for (let q = p + CMSGHDR.size; q + 4 <= p + clen; q += 4) {
        try { closeSync(readI32(control, q)); } catch { /* not ours */ }
      }
    }
    p += (clen + 7) & ~7;
  }
  throw new DumpError('UNSUPPORTED', `${why} has ${what} in its queue: cryo cannot dump that yet`);
}

/** The packets of sk-queues.img for file id `id`, in order. */
export function packetsFor(ctx: TaskCtx, id: number): Buffer[] {
  const img = ctx.img.all.get('sk-queues.img');
  return (img?.entries ?? [])
    .filter((e) => Number(e.value.id_for) === id)
    .map((e) => (Buffer.isBuffer(e.extra) ? e.extra : Buffer.alloc(0)));
}

const SCRATCH_AT = 8192;
const SCRATCH_ROOM = 8192;

/**
 * Sends `packets` from the task's socket `from` (connected to the queue's owner), each with one
 * sendto so datagram and seqpacket boundaries stay. Large packets go through a temporary mapping.
 */
export function sendPackets(ctx: TaskCtx, from: number, packets: Buffer[], why: string): void {
  if (packets.length === 0) return;
  const biggest = Math.max(...packets.map((p) => p.length));
  let buf = 0n;
  let mapped = 0;
  if (biggest > SCRATCH_ROOM) {
    mapped = (biggest + 4095) & ~4095;
    buf = injectMmap(ctx.inj, 0, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  try {
    for (const p of packets) {
      let at: bigint;
      if (mapped) {
        if (processVmWritev(ctx.pid, buf, p) !== p.length) throw new Error(`cannot write a queued packet into task ${ctx.pid}`);
        at = buf;
      } else {
        at = p.length > 0 ? ctx.put(p, SCRATCH_AT) : ctx.scratch!.addr + BigInt(SCRATCH_AT);
      }
      const r = ctx.raw('sendto', from, at, p.length, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
      if (r !== BigInt(p.length)) {
        throw new RestoreError('FAILED', r < 0n ? `errno ${-r} from sendto() putting back the queue of ${why}` : `the queue of ${why}: a ${p.length}-byte packet went out as ${r} bytes`);
      }
    }
  } finally {
    if (mapped) ctx.call('munmap', buf, mapped);
  }
}
