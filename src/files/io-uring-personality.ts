// Personalities registered on a ring (IORING_REGISTER_PERSONALITY): 6.18's fdinfo lists none, and
// the credentials each stands for show nowhere; cryo finds their ids so as to refuse such a ring.
import { errnoName } from '../sys/index.js';
import { DumpError } from '../shared/dump-error.js';
import { uncounted } from '../fault.js';
import { REGISTER_PERSONALITY, UNREGISTER_PERSONALITY } from './io-uring-abi.js';

/** A raw call on the ring (io_uring_register or io_uring_enter, the ring's descriptor first): its result, or -errno. */
export type RingCall = (name: string, ...args: (bigint | number | Buffer)[]) => bigint;
/** io_uring_register(fd, ...args) for each of `args`, failures too, in batches in the ring's thread; undefined where the task has no batch runner. */
export type RingCalls = (args: readonly (readonly number[])[]) => bigint[] | undefined;

export const failedWith = (r: bigint, name: string) => r < 0n && errnoName(Number(-r)) === name;

const PERSONALITY_IDS = 0xffff;
/** Ids taken per batch: one stop each (the descriptors' batch area holds 4096 calls, one entry of them the park's). */
const IDS_PER_CHUNK = 4095;

/**
 * The personality ids registered on the ring (6.18's fdinfo lists none), by calls in the ring's
 * thread: each id cryo takes holds that thread's credentials, never cryo's. The kernel hands ids out
 * cyclically, the first one after the last it gave: cryo registers one of its own and takes it back
 * at once; 1 means no personality was ever registered. Otherwise cryo takes every free id (the
 * kernel gives them in order until none is left) and gives them all back: the ids it never got are
 * the ring's. The next id the program gets is the one it would have got (but for a ring that never
 * had one: its first id is then 2, not 1).
 */
export function personalityIds(call: RingCall, many: RingCalls, why: string): number[] {
  const check = (r: bigint) => {
    if (r < 0n && !failedWith(r, 'EBUSY')) throw new DumpError('FAILED', `${why}: ${errnoName(Number(-r))} from IORING_REGISTER_PERSONALITY while cryo looked for its personalities`);
    return r;
  };
  const register = () => check(call('io_uring_register', REGISTER_PERSONALITY, 0, 0));
  const first = register();
  // Given back whatever fails next (a fault at the next point included): one step with its register.
  if (first > 0n) uncounted(() => call('io_uring_register', UNREGISTER_PERSONALITY, 0, Number(first)));
  if (first === 1n) return [];
  const ours = new Set<number>();
  // Every free id taken in batches in the ring's thread (until none is left the kernel gives them
  // in order, then EBUSY). Without a batch runner, 65535 calls injected one by one take minutes.
  // Noted chunk by chunk: a failure at a later one leaves no id cryo took on the ring.
  const takeAll = (): bigint[] => {
    const taken: bigint[] = [];
    for (let i = 0; i < PERSONALITY_IDS; i += IDS_PER_CHUNK) {
      const got = many(Array.from({ length: Math.min(IDS_PER_CHUNK, PERSONALITY_IDS - i) }, () => [REGISTER_PERSONALITY, 0, 0]));
      if (!got) throw new DumpError('UNSUPPORTED', `${why} has or had registered personalities (IORING_REGISTER_PERSONALITY: the next id would be ${first}), whose credentials show nowhere, and the task has no batch runner, so cryo cannot look for them in time: cryo cannot dump it (an earlier dump of this ring that failed or left it running, which took id 1 and gave it back, has the same effect)`);
      for (const r of got) if (r > 0n) ours.add(Number(r));
      taken.push(...got);
    }
    return taken;
  };
  // The kernel's cursor back where it was (every free id held): the last id cryo takes is the free
  // one just before the first it got, so the next search passes the ring's own ids and finds that first one.
  const cursorBack = () => {
    let last = 0;
    let highest = 0;
    for (const id of ours) {
      if (id < Number(first) && id > last) last = id;
      if (id > highest) highest = id;
    }
    if (last === 0) last = highest;
    if (ours.size > 0) {
      call('io_uring_register', UNREGISTER_PERSONALITY, 0, last);
      if (register() !== BigInt(last)) throw new DumpError('FAILED', `${why}: the kernel did not give personality id ${last} back to cryo`);
    }
  };
  try {
    takeAll().forEach(check);
    cursorBack();
  } catch (e) {
    // Failed half way (a fault injected at an earlier point fails every later one): the rest taken
    // and the cursor put back all the same, as far as the task lets cryo; the first failure is the one told.
    try { uncounted(() => { takeAll(); cursorBack(); }); } catch { /* the task's end, ... */ }
    throw e;
  } finally {
    uncounted(() => many([...ours].map((id) => [UNREGISTER_PERSONALITY, 0, id])));
  }
  const ids: number[] = [];
  for (let id = 1; id <= PERSONALITY_IDS; id++) if (!ours.has(id)) ids.push(id);
  return ids;
}

