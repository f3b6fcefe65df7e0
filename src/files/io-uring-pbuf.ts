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

/** Buffer group ids are 16 bits. */
const GROUPS = 1 << 16;
/** struct io_uring_buf_status: buf_group, head, resv[8] (u32 each). */
const BUF_STATUS_SIZE = 40;

type Register = (op: number, arg: bigint | number, nr: number) => bigint;

const errno = (r: bigint): string | undefined => (r < 0n ? errnoName(Number(-r)) : undefined);

/**
 * Refuses the ring if it has provided buffers, naming the groups. A kernel without
 * IORING_REGISTER_PBUF_STATUS answers EINVAL for every group: it cannot be looked at.
 */
export function refuseProvidedBuffers(register: Register, why: string): void {
  const status = Buffer.alloc(BUF_STATUS_SIZE);
  const at = addressOf(status);
  const rings: number[] = [];
  const legacy: number[] = [];
  for (let group = 0; group < GROUPS; group++) {
    writeU32(status, group, 0);
    const r = register(REGISTER_PBUF_STATUS, at, 1);
    const e = errno(r);
    if (e === 'ENOENT') continue;
    if (r === 0n) rings.push(group);
    else if (e === 'EINVAL') legacy.push(group);
    else throw new DumpError('FAILED', `${why}: ${e ?? r} from IORING_REGISTER_PBUF_STATUS for buffer group ${group}`);
  }
  if (legacy.length === GROUPS) return;
  const list = (ids: number[]) => `${ids.slice(0, 8).join(', ')}${ids.length > 8 ? ', ...' : ''}`;
  const what = [
    ...(rings.length > 0 ? [`buffer rings (IORING_REGISTER_PBUF_RING, groups ${list(rings)})`] : []),
    ...(legacy.length > 0 ? [`provided buffers (IORING_OP_PROVIDE_BUFFERS, groups ${list(legacy)})`] : []),
  ];
  if (what.length > 0) throw new DumpError('UNSUPPORTED', `${why} has ${what.join(' and ')}: where they are shows nowhere, so cryo cannot restore them; have the program unregister or remove them before the dump`);
}
