// Provided buffers (IORING_OP_PROVIDE_BUFFERS groups, and buffer rings registered with
// IORING_REGISTER_PBUF_RING) show in no file, and a buffer ring's address in user memory shows
// nowhere at all: cryo cannot make them again. They are found so that a ring that has them is
// refused rather than restored without them (its reads with IOSQE_BUFFER_SELECT would fail with
// ENOBUFS): IORING_REGISTER_PBUF_STATUS (Linux 6.8) answers ENOENT for a group that does not
// exist, EINVAL for a group of provided buffers and 0 for a buffer ring, and changes nothing.
import { addressOf, errnoName } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import { writeU32 } from '../sys/native-endian.js';
import { REGISTER_PBUF_STATUS } from './io-uring-abi.js';
import type { DumpFd } from './kind.js';

/** Buffer group ids are 16 bits. */
const GROUPS = 1 << 16;
/** struct io_uring_buf_status: buf_group, head, resv[8] (u32 each). */
const BUF_STATUS_SIZE = 40;
/** Groups asked in one stop of a SINGLE_ISSUER ring's thread. */
const GROUPS_PER_STOP = 4096;

/** PBUF_STATUS's answer (0 or -errno) for each group of 0..65535, or undefined when it cannot be asked. */
export type GroupStatus = () => bigint[] | undefined;

/** Asked on cryo's own copy of the ring's descriptor: `register(op, arg, nr)`. */
export function statusFromCryo(register: (op: number, arg: bigint, nr: number) => bigint): GroupStatus {
  return () => {
    const status = Buffer.alloc(BUF_STATUS_SIZE);
    const at = addressOf(status);
    const out: bigint[] = [];
    for (let group = 0; group < GROUPS; group++) {
      writeU32(status, group, 0);
      out.push(register(REGISTER_PBUF_STATUS, at, 1));
    }
    return out;
  };
}

/**
 * Asked in the thread a SINGLE_ISSUER ring belongs to (every other task gets EEXIST): 4096 calls a
 * stop, each with its own status in the task. Undefined where the task has no batch runner (65536
 * calls one by one take about a minute).
 */
export function statusInThread(c: DumpFd, tid: number): GroupStatus {
  return () => {
    const out: bigint[] = [];
    for (let first = 0; first < GROUPS; first += GROUPS_PER_STOP) {
      const room = Buffer.alloc(GROUPS_PER_STOP * BUF_STATUS_SIZE);
      for (let i = 0; i < GROUPS_PER_STOP; i++) writeU32(room, first + i, i * BUF_STATUS_SIZE);
      const r = c.eachInThread(tid, room, (at) => Array.from({ length: GROUPS_PER_STOP }, (_, i) => (
        { name: 'io_uring_register', args: [c.fd, REGISTER_PBUF_STATUS, at + BigInt(i * BUF_STATUS_SIZE), 1] })));
      if (!r) return undefined;
      out.push(...r);
    }
    return out;
  };
}

const errno = (r: bigint): string | undefined => (r < 0n ? errnoName(Number(-r)) : undefined);

/**
 * Refuses the ring if it has provided buffers, naming the groups. A kernel without
 * IORING_REGISTER_PBUF_STATUS answers EINVAL for every group: it cannot be looked at.
 */
export function refuseProvidedBuffers(statusOf: GroupStatus, why: string): void {
  const answers = statusOf();
  if (!answers) return;
  const rings: number[] = [];
  const legacy: number[] = [];
  answers.forEach((r, group) => {
    const e = errno(r);
    if (e === 'ENOENT') return;
    if (r === 0n) rings.push(group);
    else if (e === 'EINVAL') legacy.push(group);
    else throw new DumpError('FAILED', `${why}: ${e ?? r} from IORING_REGISTER_PBUF_STATUS for buffer group ${group}`);
  });
  if (legacy.length === GROUPS) return;
  const list = (ids: number[]) => `${ids.slice(0, 8).join(', ')}${ids.length > 8 ? ', ...' : ''}`;
  const what = [
    ...(rings.length > 0 ? [`buffer rings (IORING_REGISTER_PBUF_RING, groups ${list(rings)})`] : []),
    ...(legacy.length > 0 ? [`provided buffers (IORING_OP_PROVIDE_BUFFERS, groups ${list(legacy)})`] : []),
  ];
  if (what.length > 0) throw new DumpError('UNSUPPORTED', `${why} has ${what.join(' and ')}: where they are shows nowhere, so cryo cannot restore them; have the program unregister or remove them before the dump`);
}
