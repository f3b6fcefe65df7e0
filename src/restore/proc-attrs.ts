// What a process has in /proc/PID that a service notices and that no system call restores:
// oom_score_adj and the audit login uid (task_core_entry.oom_score_adj, loginuid). cryo writes
// them from outside, as root; preflight refuses what this cryo cannot write.
import { readFileSync } from 'node:fs';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { errnoName, AT_FDCWD } from '../sys/index.js';
import { O_CLOEXEC, O_WRONLY } from '../shared/constants.js';


const CAP_SYS_RESOURCE = 24n;
const CAP_AUDIT_CONTROL = 30n;

const own = (file: string): number => Number(readFileSync(`/proc/self/${file}`, 'utf8').trim());

function hasCap(cap: bigint): boolean {
  const m = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m !== null && ((BigInt(`0x${m[1]}`) >> cap) & 1n) === 1n;
}

/**
 * Preflight: the stub inherits cryo's oom_score_adj and loginuid. A lower oom_score_adj needs
 * CAP_SYS_RESOURCE (the kernel keeps a floor per process), another loginuid CAP_AUDIT_CONTROL.
 */
export function checkProcAttrs(tc: MessageValue | undefined, pid: number): void {
  if (tc?.oom_score_adj !== undefined) {
    const want = Number(tc.oom_score_adj);
    const mine = own('oom_score_adj');
    if (want < mine && !hasCap(CAP_SYS_RESOURCE)) {
      throw new RestoreError('UNSUPPORTED', `process ${pid} had oom_score_adj ${want}, lower than cryo's own ${mine}: lowering it needs CAP_SYS_RESOURCE, which cryo lacks (run cryo with that oom_score_adj or lower, e.g. under choom -n ${want})`);
    }
  }
  if (tc?.loginuid !== undefined && Number(tc.loginuid) !== own('loginuid') && !hasCap(CAP_AUDIT_CONTROL)) {
    throw new RestoreError('UNSUPPORTED', `process ${pid} had the login uid ${Number(tc.loginuid)} (cryo's is ${own('loginuid')}): setting it needs CAP_AUDIT_CONTROL, which cryo lacks`);
  }
}

/**
 * Writes oom_score_adj and loginuid of the restored process where they differ from what it
 * inherited, from inside the task (the kernel lets only a process itself set its loginuid),
 * while it still has cryo's privileges.
 */
export function restoreProcAttrs(ctx: TaskCtx, tc: MessageValue | undefined): void {
  const put = (file: string, value: number) => {
    if (Number(readFileSync(`/proc/${ctx.pid}/${file}`, 'utf8').trim()) === value) return;
    const text = Buffer.from(`${value}`);
    const path = ctx.putString(`/proc/self/${file}`);
    const fd = ctx.raw('openat', AT_FDCWD, path, O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-fd))} opening /proc/self/${file} in process ${ctx.pid}`);
    try {
      const r = ctx.raw('write', fd, ctx.put(text, 512), text.length);
      if (r < 0n) throw new RestoreError('FAILED', `${errnoName(Number(-r))} setting ${file} of process ${ctx.pid} to ${value}`);
    } finally {
      ctx.call('close', fd);
    }
  };
  if (tc?.oom_score_adj !== undefined) put('oom_score_adj', Number(tc.oom_score_adj));
  if (tc?.loginuid !== undefined) put('loginuid', Number(tc.loginuid));
}
