// The task's other threads. Once the address space and the process-wide state
// are rebuilt in the main thread, each further thread is created there by an
// injected clone3 with set_tid = its dumped TID (a thread of the same process,
// sharing memory, files, fs, signal handlers and SysV undo lists), comes up
// traced (CLONE_PTRACE) and stopped before it runs a single instruction,
// and gets its own state by injection in itself. Its registers, mask and
// alternate stack come back at resume, through its own signal frame.

import type { Arch } from '../arch/types.js';
import type { MessageValue } from '../images/value.js';
import { waitForStop } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { checkPidsFree } from './pid-free.js';
import { checkThreadArch } from './preflight-arch.js';
import { batchFor, shareBatchArea } from './scratch.js';
import { InjectError } from '../inject/index.js';
import { readdirSync } from 'node:fs';
import type { Stub } from './stub.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { CLONE_ARGS, CLONE_FILES, CLONE_SLOT, SCRATCH_CLONE_ARGS, SCRATCH_RESERVED, writeCloneSlot } from './clone-args.js';

const CLONE_VM = 0x100n;
const CLONE_FS = 0x200n;
const CLONE_SIGHAND = 0x800n;
const CLONE_THREAD = 0x10000n;
const CLONE_SYSVSEM = 0x40000n;
/** What pthread_create shares; TLS and the TID words come from the images instead. */
const THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;

/** Every thread the process has but its main one: made by a batch that failed part way, cryo must reap them. */
function adoptMade(pid: number, stub: Stub): void {
  let tids: number[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number).filter((t) => t !== pid);
  } catch { /* gone */ }
  for (const t of tids) stub.adopt(t);
}

/** The TID whose clone_args slot a failed clone3 named (its first argument, in the error's message). */
function threadOf(message: string, chunk: readonly { tid: number }[], base: bigint): number | string {
  const k = chunk.findIndex((_, i) => message.includes(`clone3(0x${(base + BigInt(i * CLONE_SLOT)).toString(16)},`));
  return k >= 0 ? chunk[k]!.tid : chunk.map((c) => c.tid).join(', ');
}

/**
 * Before the point of no return: every thread's core is of a kind this machine runs, and every TID
 * is free (the images' byte order, and every thread's CPU features, are checkArch's and checkCpu's).
 */
export function checkThreads(img: RestoreImages, arch: Arch): void {
  const others = img.threads.slice(1);
  for (const t of others) checkThreadArch({ ...img, core: t.core, pid: t.tid }, arch);
  checkPidsFree(others.map((t) => t.tid));
}

/**
 * Creates every thread but the main one with its dumped TID; returns their contexts (each stopped
 * under ptrace, all signals blocked, as the main thread was at the clone). `stub` learns each
 * thread so that a failure later kills and reaps it too.
 */
export function createThreads(main: TaskCtx, stub: Stub): TaskCtx[] {
  const others = main.img.threads.slice(1);
  if (others.length === 0) return [];
  // In batches: each clone_args and its set_tid array in a slot of their own.
  const per = Math.max(1, Math.floor((main.scratch!.size - SCRATCH_CLONE_ARGS - SCRATCH_RESERVED) / CLONE_SLOT));
  const batch = batchFor(main);
  for (let i = 0; i < others.length; i += per) {
    const chunk = others.slice(i, i + per);
    const slots = Buffer.alloc(chunk.length * CLONE_SLOT);
    const base = main.scratch!.addr + BigInt(SCRATCH_CLONE_ARGS);
    chunk.forEach(({ tid }, k) => {
      const at = k * CLONE_SLOT;
      writeCloneSlot(slots, at, tid, THREAD_FLAGS, 0, base + BigInt(at + CLONE_ARGS.size));
    });
    main.put(slots, SCRATCH_CLONE_ARGS);
    let got: bigint[];
    try {
      got = batch.runAll(chunk.map((_, k) => ({ name: 'clone3', args: [base + BigInt(k * CLONE_SLOT), CLONE_ARGS.size] })));
    } catch (e) {
      // The threads made before the one that failed are cryo's to reap.
      adoptMade(main.pid, stub);
      if (e instanceof InjectError && e.errnoName !== undefined) {
        const tid = threadOf(e.message, chunk, base);
        if (e.errnoName === 'EEXIST') throw new RestoreError('PID_TAKEN', `TID ${tid} of process ${main.pid} was taken while cryo restored it: try again`);
        throw new RestoreError('FAILED', `${e.errnoName} from clone3(set_tid=[${tid}]) injected into task ${main.pid}: cannot recreate its thread ${tid}`);
      }
      throw e;
    }
    chunk.forEach(({ tid }, k) => {
      stub.adopt(Number(got[k]));
      if (Number(got[k]) !== tid) throw new RestoreError('FAILED', `clone3(set_tid=[${tid}]) made thread ${got[k]} instead of ${tid}`);
    });
  }
  // Traced from their start: each stops (an event stop, as seized) before its first instruction,
  // on its way while the next clone3 runs: one wait each once all are made.
  return others.map(({ tid, core }, i) => {
    waitForStop(tid, { timeoutMs: 10_000 });
    const t = main.forThread(tid, core as MessageValue);
    shareBatchArea(main, t, i);
    return t;
  });
}
