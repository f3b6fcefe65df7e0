// The task's credentials at restore: checked before the point of no return (cryo can hand out
// only ids and capabilities it has), set in the stub once everything else is in place.
import type { MessageValue } from '../images/value.js';
import { rawSyscall } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import type { TaskCtx } from '../shared/task-ctx.js';
import { readStatus } from '../proc/index.js';
import { writeU32 } from '../sys/native-endian.js';

const PR_SET_DUMPABLE = 4;
const num = (v: unknown): number => Number(v ?? 0);
/** The core's thread part (credentials are each thread's; restore sets the main thread's). */
const thread = (ctx: TaskCtx): MessageValue => (ctx.img.core.thread_core as MessageValue | undefined) ?? {};

/** cryo's own status: its credentials never change while it runs (read once, not once per restored thread). */
let selfStatus: ReturnType<typeof readStatus> | undefined;
const ownStatus = () => (selfStatus ??= readStatus('self'));

/** cryo's own capability sets, by /proc/self/status's names. */
function ownCaps(): Record<'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd', bigint> {
  const st = ownStatus();
  return { CapInh: st.capInh, CapPrm: st.capPrm, CapEff: st.capEff, CapBnd: st.capBnd };
}

const capWord = (v: unknown): bigint => {
  const a = (v as number[] | undefined) ?? [];
  return (BigInt(a[1] ?? 0) << 32n) | BigInt(a[0] ?? 0);
};

const CAP_SETGID = 6n;
const CAP_SETUID = 7n;
const CAP_SYS_ADMIN = 21n;
const CAP_CHECKPOINT_RESTORE = 40n;

/** What giving processes their PIDs back takes, for the refusal and for `cryo check`. */
export const PID_RIGHT_ADVICE = 'run cryo restore as root, or give the node binary that runs it CAP_CHECKPOINT_RESTORE (setcap cap_checkpoint_restore+ep NODE; see cryo check)';

/**
 * The dumped PIDs come back by clone3 with set_tid, which takes CAP_CHECKPOINT_RESTORE (or
 * CAP_SYS_ADMIN): refused before anything starts when cryo has neither.
 */
export function checkPidRight(pid: number): void {
  const eff = ownCaps().CapEff;
  if (((eff >> CAP_CHECKPOINT_RESTORE) & 1n) || ((eff >> CAP_SYS_ADMIN) & 1n)) return;
  throw new RestoreError('UNSUPPORTED', `giving process ${pid} its PID back (clone3 with set_tid) takes CAP_CHECKPOINT_RESTORE, which cryo lacks: ${PID_RIGHT_ADVICE}`);
}

/**
 * Credentials: the stub runs with cryo's; restoreCreds makes them the task's. That needs
 * CAP_SETUID/CAP_SETGID for other ids, and cryo cannot hand out capabilities it lacks itself:
 * both are refused before the point of no return.
 */
export function checkCreds(core: MessageValue): void {
  const creds = (core.thread_core as MessageValue | undefined)?.creds as MessageValue | undefined;
  if (!creds) return;
  const ids = ['uid', 'gid', 'euid', 'egid', 'suid', 'sgid', 'fsuid', 'fsgid'].map((k) => num(creds[k]));
  const mine = [process.geteuid!(), process.getegid!()];
  const own = ownCaps();
  if (ids.some((id, i) => id !== mine[i % 2]) && (!((own.CapEff >> CAP_SETUID) & 1n) || !((own.CapEff >> CAP_SETGID) & 1n))) {
    throw new RestoreError('UNSUPPORTED', `the process ran as uid/gid ${ids.slice(0, 2).join('/')}; restoring another user's process needs CAP_SETUID and CAP_SETGID (run cryo as root)`);
  }
  const wants = { CapPrm: capWord(creds.cap_prm), CapEff: capWord(creds.cap_eff), CapInh: capWord(creds.cap_inh) };
  for (const [k, v] of Object.entries(wants) as [keyof typeof wants, bigint][]) {
    const have = own[k === 'CapInh' ? 'CapPrm' : k]; // an inheritable capability must be permitted
    if ((v & ~have) !== 0n) {
      throw new RestoreError('UNSUPPORTED', `the process had capabilities (${k} 0x${v.toString(16)}) that cryo itself lacks (0x${have.toString(16)})`);
    }
  }
}

const PR_GET_SECUREBITS = 27;
const PR_SET_SECUREBITS = 28;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_RAISE = 2;
const SECBIT_NO_SETUID_FIXUP = 1 << 2;

/**
 * Groups, ids, bounding set, securebits, capabilities, ambient set, no_new_privs, then dumpable
 * (changing ids resets it). The stub is cryo's (root): with SECBIT_NO_SETUID_FIXUP the uid change
 * keeps its capabilities until capset lowers them to the task's, so every step is still allowed.
 * Runs after the seccomp filters are in: cryo's own calls are exempt (PTRACE_O_SUSPEND_SECCOMP),
 * and installing a filter needed the privileges dropped here.
 */
export function restoreCreds(ctx: TaskCtx): void {
  const creds = thread(ctx).creds as MessageValue | undefined;
  if (creds) {
    const groups = (creds.groups as number[] | undefined) ?? [];
    // The stub has cryo's groups: setting the same ones again would still need CAP_SETGID.
    // (Groups: of /proc/self/status, not process.getgroups(), which adds the effective gid.)
    const mine = [...ownStatus().groups].sort((a, b) => a - b);
    if (groups.length !== mine.length || [...groups].sort((a, b) => a - b).some((x, i) => x !== mine[i])) {
      const g = Buffer.alloc(Math.max(4, groups.length * 4));
      groups.forEach((x, i) => writeU32(g, x, i * 4));
      ctx.call('setgroups', groups.length, ctx.put(g, 256));
    }
    const ids = ['uid', 'euid', 'suid', 'fsuid', 'gid', 'egid', 'sgid', 'fsgid'].map((k) => num(creds[k]));
    const own = [process.getuid!(), process.geteuid!(), process.geteuid!(), process.geteuid!(), process.getgid!(), process.getegid!(), process.getegid!(), process.getegid!()];
    const idsChange = ids.some((id, i) => id !== own[i]);
    if (idsChange) {
      ctx.call('prctl', PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0);
      ctx.call('setresgid', ids[4]!, ids[5]!, ids[6]!);
      ctx.call('setfsgid', ids[7]!);
      ctx.call('setresuid', ids[0]!, ids[1]!, ids[2]!);
      ctx.call('setfsuid', ids[3]!);
    }
    restoreCaps(ctx, creds, idsChange);
    const amb = capWord(creds.cap_amb);
    for (let cap = 0n; (amb >> cap) !== 0n; cap++) if ((amb >> cap) & 1n) ctx.call('prctl', PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    if (num(creds.no_new_privs) !== 0) ctx.call('prctl', PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  }
  const dumpable = ctx.img.mm.dumpable;
  if (dumpable !== undefined && num(dumpable) !== 1) ctx.call('prctl', PR_SET_DUMPABLE, num(dumpable), 0, 0, 0);
}

function restoreCaps(ctx: TaskCtx, creds: MessageValue, idsChanged: boolean): void {
  const own = ownCaps();
  const prm = capWord(creds.cap_prm), eff = capWord(creds.cap_eff), inh = capWord(creds.cap_inh);
  const bnd = creds.cap_bnd === undefined ? own.CapBnd : capWord(creds.cap_bnd);
  const PR_CAPBSET_DROP = 24;
  for (let cap = 0n; (own.CapBnd >> cap) !== 0n; cap++) {
    if (((own.CapBnd >> cap) & 1n) && !((bnd >> cap) & 1n)) ctx.call('prctl', PR_CAPBSET_DROP, cap, 0, 0, 0);
  }
  // Securebits need CAP_SETPCAP, even unchanged ones: set them while the stub still has it (the
  // stub has cryo's own unless the ids changed above).
  if (idsChanged || num(creds.secbits) !== Number(rawSyscall('prctl', PR_GET_SECUREBITS, 0, 0, 0, 0))) ctx.call('prctl', PR_SET_SECUREBITS, num(creds.secbits), 0, 0, 0);
  if (prm === own.CapPrm && eff === own.CapEff && inh === own.CapInh) return;
  // struct __user_cap_header_struct { u32 version (3), int pid } + 2 x { effective, permitted, inheritable }
  const b = Buffer.alloc(8 + 24);
  writeU32(b, 0x20080522, 0);
  const lo = (v: bigint) => Number(v & 0xffffffffn), hi = (v: bigint) => Number(v >> 32n);
  [[lo(eff), lo(prm), lo(inh)], [hi(eff), hi(prm), hi(inh)]].forEach((w, i) => w.forEach((x, k) => writeU32(b, x, 8 + i * 12 + k * 4)));
  const at = ctx.put(b, 256);
  ctx.call('capset', at, at + 8n);
}
