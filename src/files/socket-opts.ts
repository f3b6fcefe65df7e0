// Socket options every socket kind keeps (sk_opts_entry, as CRIU 4.2's dump_socket_opts reads
// them and restore_socket_opts sets them). Option numbers are the architecture's
// (KernelAbi.socketOptions in src/arch: asm-generic's on x86_64, aarch64 and s390x; ppc64 numbers
// SO_RCVLOWAT..SO_PASSCRED differently).
import { rawSyscall, SysError, readI32, writeI32, writeU32, readU32, readU64, writeU64 } from '../sys/index.js';
import { hostKernelAbi } from '../arch/host-abi.js';
import type { MessageValue } from '../images/value.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { RestoreError } from '../shared/restore-error.js';

export const SOL_SOCKET = hostKernelAbi().solSocket;
export const SO = hostKernelAbi().socketOptions;

/** getsockopt(SOL_SOCKET, name) of an int option on cryo's own descriptor. */
export function getIntOpt(fd: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  writeU32(len, 4, 0);
  rawSyscall('getsockopt', fd, SOL_SOCKET, name, v, len);
  return readI32(v, 0);
}

export function setIntOpt(fd: number, name: number, value: number): void {
  const v = Buffer.alloc(4);
  writeI32(v, value, 0);
  rawSyscall('setsockopt', fd, SOL_SOCKET, name, v, 4);
}

/** The socket's family (SO_DOMAIN), or -1 when the descriptor is no socket. */
export function socketFamily(fd: number): number {
  try {
    return getIntOpt(fd, SO.DOMAIN);
  } catch (e) {
    if (e instanceof SysError) return -1;
    throw e;
  }
}

function getTimeval(fd: number, name: number): [bigint, bigint] {
  const v = Buffer.alloc(16);
  const len = Buffer.alloc(4);
  writeU32(len, 16, 0);
  rawSyscall('getsockopt', fd, SOL_SOCKET, name, v, len);
  return [BigInt.asIntN(64, readU64(v, 0)), BigInt.asIntN(64, readU64(v, 8))];
}

/** sk_opts_entry of a socket, read through cryo's copy of it, with the fields CRIU 4.2 fills. */
export function dumpSocketOpts(fd: number, unixOrNetlink: boolean): MessageValue {
  const [sndSec, sndUsec] = getTimeval(fd, SO.SNDTIMEO);
  const [rcvSec, rcvUsec] = getTimeval(fd, SO.RCVTIMEO);
  const o: MessageValue = {
    so_sndbuf: getIntOpt(fd, SO.SNDBUF), so_rcvbuf: getIntOpt(fd, SO.RCVBUF),
    so_snd_tmo_sec: sndSec, so_snd_tmo_usec: sndUsec, so_rcv_tmo_sec: rcvSec, so_rcv_tmo_usec: rcvUsec,
    reuseaddr: getIntOpt(fd, SO.REUSEADDR) !== 0,
    so_priority: getIntOpt(fd, SO.PRIORITY),
    so_rcvlowat: getIntOpt(fd, SO.RCVLOWAT),
  };
  const mark = getIntOpt(fd, SO.MARK);
  if (mark !== 0) o.so_mark = mark;
  if (unixOrNetlink) {
    o.so_passcred = getIntOpt(fd, SO.PASSCRED) !== 0;
    o.so_passsec = getIntOpt(fd, SO.PASSSEC) !== 0;
  }
  o.so_dontroute = getIntOpt(fd, SO.DONTROUTE) !== 0;
  o.so_no_check = getIntOpt(fd, SO.NO_CHECK) !== 0;
  o.so_reuseport = getIntOpt(fd, SO.REUSEPORT) !== 0;
  o.so_broadcast = getIntOpt(fd, SO.BROADCAST) !== 0;
  o.so_keepalive = getIntOpt(fd, SO.KEEPALIVE) !== 0;
  o.so_oobinline = getIntOpt(fd, SO.OOBINLINE);
  const linger = Buffer.alloc(8);
  const len = Buffer.alloc(4);
  writeU32(len, 8, 0);
  rawSyscall('getsockopt', fd, SOL_SOCKET, SO.LINGER, linger, len);
  if (readI32(linger, 0) !== 0) o.so_linger = readI32(linger, 4);
  try {
    o.so_buf_lock = getIntOpt(fd, SO.BUF_LOCK);
  } catch { /* kernel without SO_BUF_LOCK: CRIU leaves the field out */ }
  const dev = Buffer.alloc(16);
  writeU32(len, 16, 0);
  rawSyscall('getsockopt', fd, SOL_SOCKET, SO.BINDTODEVICE, dev, len);
  if (readU32(len, 0) > 0 && dev[0] !== 0) o.so_bound_dev = dev.toString('latin1', 0, dev.indexOf(0) < 0 ? 16 : dev.indexOf(0));
  writeU32(len, 0, 0);
  rawSyscall('getsockopt', fd, SOL_SOCKET, SO.GET_FILTER, null, len);
  if (readU32(len, 0) !== 0) throw new Error('a socket filter (SO_ATTACH_FILTER) is attached: cryo cannot dump that yet');
  return o;
}

const num = (v: unknown): number => Number((v as bigint | number | undefined) ?? 0);

/** setsockopt in the task of an int option; a failure names the option and the descriptor. */
function taskOpt(ctx: TaskCtx, fd: number, name: number, value: number, why: string, what: string): bigint {
  const b = Buffer.alloc(4);
  writeI32(b, value, 0);
  const r = ctx.raw('setsockopt', fd, SOL_SOCKET, name, ctx.put(b, 256), 4);
  if (r < 0n && name !== SO.SNDBUFFORCE && name !== SO.RCVBUFFORCE) throw new RestoreError('FAILED', `errno ${-r} from setsockopt(${what}) restoring ${why}`);
  return r;
}

/** Send and receive buffer sizes (the kernel doubles what it is given): forced where allowed, as CRIU does. */
export function setSocketBufs(ctx: TaskCtx, fd: number, snd: number, rcv: number, why: string): void {
  if (taskOpt(ctx, fd, SO.SNDBUFFORCE, snd, why, 'SO_SNDBUFFORCE') < 0n) taskOpt(ctx, fd, SO.SNDBUF, snd, why, 'SO_SNDBUF');
  if (taskOpt(ctx, fd, SO.RCVBUFFORCE, rcv, why, 'SO_RCVBUFFORCE') < 0n) taskOpt(ctx, fd, SO.RCVBUF, rcv, why, 'SO_RCVBUF');
}

/** The options of sk_opts_entry on the task's socket `fd`, as CRIU 4.2's restore_socket_opts sets them. */
export function restoreSocketOpts(ctx: TaskCtx, fd: number, o: MessageValue, why: string): void {
  setSocketBufs(ctx, fd, Math.floor(num(o.so_sndbuf) / 2), Math.floor(num(o.so_rcvbuf) / 2), why);
  if (o.so_buf_lock !== undefined && num(o.so_buf_lock) !== 0) taskOpt(ctx, fd, SO.BUF_LOCK, num(o.so_buf_lock), why, 'SO_BUF_LOCK');
  if (o.so_priority !== undefined && num(o.so_priority) !== 0) taskOpt(ctx, fd, SO.PRIORITY, num(o.so_priority), why, 'SO_PRIORITY');
  if (o.so_rcvlowat !== undefined && num(o.so_rcvlowat) !== 1) taskOpt(ctx, fd, SO.RCVLOWAT, num(o.so_rcvlowat), why, 'SO_RCVLOWAT');
  if (o.so_mark !== undefined) taskOpt(ctx, fd, SO.MARK, num(o.so_mark), why, 'SO_MARK');
  const flags: [unknown, number, string][] = [
    [o.so_passcred, SO.PASSCRED, 'SO_PASSCRED'], [o.so_passsec, SO.PASSSEC, 'SO_PASSSEC'], [o.so_dontroute, SO.DONTROUTE, 'SO_DONTROUTE'],
    [o.so_no_check, SO.NO_CHECK, 'SO_NO_CHECK'], [o.so_broadcast, SO.BROADCAST, 'SO_BROADCAST'], [o.so_oobinline, SO.OOBINLINE, 'SO_OOBINLINE'],
    [o.so_keepalive, SO.KEEPALIVE, 'SO_KEEPALIVE'],
  ];
  for (const [v, name, what] of flags) if (v === true || num(v) !== 0) taskOpt(ctx, fd, name, 1, why, what);
  if (o.so_linger !== undefined) {
    const l = Buffer.alloc(8);
    writeI32(l, 1, 0);
    writeI32(l, num(o.so_linger), 4);
    const r = ctx.raw('setsockopt', fd, SOL_SOCKET, SO.LINGER, ctx.put(l, 256), 8);
    if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from setsockopt(SO_LINGER) restoring ${why}`);
  }
  for (const [sec, usec, name, what] of [
    [o.so_snd_tmo_sec, o.so_snd_tmo_usec, SO.SNDTIMEO, 'SO_SNDTIMEO'], [o.so_rcv_tmo_sec, o.so_rcv_tmo_usec, SO.RCVTIMEO, 'SO_RCVTIMEO'],
  ] as [unknown, unknown, number, string][]) {
    if (num(sec) === 0 && num(usec) === 0) continue;
    const tv = Buffer.alloc(16);
    writeU64(tv, BigInt(num(sec)), 0);
    writeU64(tv, BigInt(num(usec)), 8);
    const r = ctx.raw('setsockopt', fd, SOL_SOCKET, name, ctx.put(tv, 256), 16);
    if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from setsockopt(${what}) restoring ${why}`);
  }
  if (typeof o.so_bound_dev === 'string' && o.so_bound_dev !== '') {
    const r = ctx.raw('setsockopt', fd, SOL_SOCKET, SO.BINDTODEVICE, ctx.putString(o.so_bound_dev, 256), o.so_bound_dev.length + 1);
    if (r < 0n) throw new RestoreError('FAILED', `errno ${-r} from setsockopt(SO_BINDTODEVICE, ${o.so_bound_dev}) restoring ${why}`);
  }
}
