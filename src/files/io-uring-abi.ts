// The io_uring ABI cryo uses (include/uapi/linux/io_uring.h): setup flags, mmap offsets, the
// io_uring_params layout, opcodes and register codes. Pure data.
import { readU32 } from '../sys/native-endian.js';

export const SETUP = {
  IOPOLL: 1 << 0, SQPOLL: 1 << 1, SQ_AFF: 1 << 2, CQSIZE: 1 << 3, CLAMP: 1 << 4, ATTACH_WQ: 1 << 5,
  R_DISABLED: 1 << 6, SUBMIT_ALL: 1 << 7, COOP_TASKRUN: 1 << 8, TASKRUN_FLAG: 1 << 9, SQE128: 1 << 10,
  CQE32: 1 << 11, SINGLE_ISSUER: 1 << 12, DEFER_TASKRUN: 1 << 13, NO_MMAP: 1 << 14, REGISTERED_FD_ONLY: 1 << 15,
  NO_SQARRAY: 1 << 16, HYBRID_IOPOLL: 1 << 17, CQE_MIXED: 1 << 18,
} as const;

/** The SQ ring's flags word (sq_flags) as the kernel sets it. */
export const SQ_NEED_WAKEUP = 1;
export const SQ_TASKRUN = 1 << 2;

/** mmap offsets of the three areas of a ring. */
export const OFF_SQ_RING = 0n;
export const OFF_CQ_RING = 0x8000000n;
export const OFF_SQES = 0x10000000n;

export const ENTER_GETEVENTS = 1;
export const ENTER_SQ_WAKEUP = 2;
export const ENTER_EXT_ARG = 8;
export const ENTER_REGISTERED_RING = 16;
/** How many rings a thread may register (IORING_REGISTER_RING_FDS). */
export const RINGFD_REG_MAX = 16;
/** struct io_uring_getevents_arg: sigmask (u64), sigmask_sz, min_wait_usec (u32 each), ts (u64). */
export const GETEVENTS_ARG_SIZE = 24;
export const REGISTER_BUFFERS = 0;
export const REGISTER_FILES = 2;
export const REGISTER_EVENTFD = 4;
export const UNREGISTER_EVENTFD = 5;
export const UNREGISTER_BUFFERS = 1;
export const UNREGISTER_FILES = 3;
export const REGISTER_PROBE = 8;
export const REGISTER_PERSONALITY = 9;
export const UNREGISTER_PERSONALITY = 10;
export const REGISTER_RESTRICTIONS = 11;
export const UNREGISTER_IOWQ_AFF = 18;
export const REGISTER_ENABLE_RINGS = 12;
export const REGISTER_SEND_MSG_RING = 31;
export const REGISTER_PBUF_STATUS = 26;
export const OP_NOP = 0;
/** IORING_REGISTER_EVENTFD_ASYNC: the eventfd is signalled only for completions io_uring's worker threads post. */
export const REGISTER_EVENTFD_ASYNC = 7;
/** The CQ ring's flags word: the program asked for no eventfd signal (IORING_CQ_EVENTFD_DISABLED). */
export const CQ_EVENTFD_DISABLED = 1;
export const SQE_ASYNC = 1 << 4;
export const OP_MSG_RING = 40;
export const SQE_CQE_SKIP_SUCCESS = 1 << 6;
export const FEAT_SINGLE_MMAP = 1;
export const SQE_SIZE = 64;
export const CQE_SIZE = 16;
/** The size of one SQE and one CQE of a ring set up with `flags`. */
export const sqeSize = (flags: number): number => (flags & SETUP.SQE128 ? 2 * SQE_SIZE : SQE_SIZE);
export const cqeSize = (flags: number): number => (flags & SETUP.CQE32 ? 2 * CQE_SIZE : CQE_SIZE);

/** struct io_uring_params: 120 bytes; sq_off at 40, cq_off at 80 (u32 fields, then a u64). */
export const PARAMS_SIZE = 120;
export const PARAMS = { sqEntries: 0, cqEntries: 4, flags: 8, sqThreadCpu: 12, sqThreadIdle: 16, features: 20 } as const;

export interface RingOffsets {
  features: number;
  sq: { head: number; tail: number; mask: number; entries: number; flags: number; dropped: number; array: number };
  cq: { head: number; tail: number; mask: number; entries: number; overflow: number; cqes: number; flags: number };
}

/** The offsets io_uring_setup wrote into the params. */
export function ringOffsets(p: Buffer): RingOffsets {
  const sq = (i: number) => readU32(p, 40 + 4 * i);
  const cq = (i: number) => readU32(p, 80 + 4 * i);
  return {
    features: readU32(p, PARAMS.features),
    sq: { head: sq(0), tail: sq(1), mask: sq(2), entries: sq(3), flags: sq(4), dropped: sq(5), array: sq(6) },
    cq: { head: cq(0), tail: cq(1), mask: cq(2), entries: cq(3), overflow: cq(4), cqes: cq(5), flags: cq(6) },
  };
}

/** Request opcodes by number (enum io_uring_op, up to 6.18's PIPE), for messages. */
const OPCODE_NAMES = [
  'NOP', 'READV', 'WRITEV', 'FSYNC', 'READ_FIXED', 'WRITE_FIXED', 'POLL_ADD', 'POLL_REMOVE', 'SYNC_FILE_RANGE', 'SENDMSG',
  'RECVMSG', 'TIMEOUT', 'TIMEOUT_REMOVE', 'ACCEPT', 'ASYNC_CANCEL', 'LINK_TIMEOUT', 'CONNECT', 'FALLOCATE', 'OPENAT', 'CLOSE',
  'FILES_UPDATE', 'STATX', 'READ', 'WRITE', 'FADVISE', 'MADVISE', 'SEND', 'RECV', 'OPENAT2', 'EPOLL_CTL',
  'SPLICE', 'PROVIDE_BUFFERS', 'REMOVE_BUFFERS', 'TEE', 'SHUTDOWN', 'RENAMEAT', 'UNLINKAT', 'MKDIRAT', 'SYMLINKAT', 'LINKAT',
  'MSG_RING', 'FSETXATTR', 'SETXATTR', 'FGETXATTR', 'GETXATTR', 'SOCKET', 'URING_CMD', 'SEND_ZC', 'SENDMSG_ZC', 'READ_MULTISHOT',
  'WAITID', 'FUTEX_WAIT', 'FUTEX_WAKE', 'FUTEX_WAITV', 'FIXED_FD_INSTALL', 'FTRUNCATE', 'BIND', 'LISTEN', 'RECV_ZC', 'EPOLL_WAIT',
  'READV_FIXED', 'WRITEV_FIXED', 'PIPE',
] as const;

/** IORING_OP_READ and the like; an opcode this table does not know by its number. */
export const opcodeName = (op: number): string => (OPCODE_NAMES[op] !== undefined ? `IORING_OP_${OPCODE_NAMES[op]}` : `opcode ${op}`);
