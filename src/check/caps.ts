// The capabilities of this process that cryo's dump and restore use, and what fails without each.
import { readStatus } from '../proc/index.js';
import { missing, ok } from './result.js';
import type { CheckResult } from './types.js';

/** Capability number, name and what fails without it (include/uapi/linux/capability.h). */
export const CAPABILITIES: readonly { bit: number; name: string; without: string }[] = [
  { bit: 21, name: 'CAP_SYS_ADMIN', without: 'dumping seccomp filters and, without CAP_CHECKPOINT_RESTORE, choosing PIDs on restore will fail' },
  { bit: 40, name: 'CAP_CHECKPOINT_RESTORE', without: 'choosing PIDs and setting the exe link on restore need CAP_SYS_ADMIN instead' },
  { bit: 19, name: 'CAP_SYS_PTRACE', without: 'tasks of other users cannot be dumped' },
  { bit: 24, name: 'CAP_SYS_RESOURCE', without: 'restoring rlimits above the hard limit and some prctl(PR_SET_MM) fields will fail' },
  { bit: 7, name: 'CAP_SETUID', without: 'restored tasks cannot get another user\'s IDs back' },
  { bit: 6, name: 'CAP_SETGID', without: 'restored tasks cannot get another group\'s IDs back' },
  { bit: 8, name: 'CAP_SETPCAP', without: 'restored tasks cannot get reduced capability bounding sets back' },
  { bit: 1, name: 'CAP_DAC_OVERRIDE', without: 'files the task can open but cryo\'s user cannot will fail to dump or restore' },
  { bit: 2, name: 'CAP_DAC_READ_SEARCH', without: 'files cannot be reopened by handle (open_by_handle_at)' },
  { bit: 18, name: 'CAP_SYS_CHROOT', without: 'a task\'s root directory other than / cannot be restored' },
  { bit: 23, name: 'CAP_SYS_NICE', without: 'real-time scheduling and raised priorities cannot be restored' },
];

/** One line per capability: ok when effective; else whether the bounding set lacks it too. */
export function capabilityLines(eff: bigint, bnd: bigint): CheckResult[] {
  return CAPABILITIES.map(({ bit, name, without }) => {
    const has = (set: bigint) => ((set >> BigInt(bit)) & 1n) === 1n;
    if (has(eff)) return ok(name, false);
    const why = has(bnd) ? 'not in the effective set (run cryo as root)' : 'not in the bounding set';
    return missing(name, false, without, why);
  });
}

export function capabilityProbe(): CheckResult[] {
  const st = readStatus('self');
  const rootless = process.geteuid?.() === 0 ? [] : [rootlessLine(process.geteuid?.() ?? -1, st.capEff, process.execPath)];
  return [...capabilityLines(st.capEff, st.capBnd), ...rootless];
}

/**
 * What a user other than root can do with cryo (shown only then): dump that user's own processes
 * always, except mappings only /proc/PID/map_files reaches; restore only with
 * CAP_CHECKPOINT_RESTORE, which a file capability on the node binary gives.
 */
export function rootlessLine(uid: number, eff: bigint, node: string): CheckResult {
  const name = 'rootless';
  const without = 'processes of other users, other ids, groups or capabilities than cryo\'s own, seccomp filters, TCP repair';
  if ((eff >> 40n) & 1n) {
    return ok(name, false, `uid ${uid} with CAP_CHECKPOINT_RESTORE: dump and restore of this user's own processes, not ${without}`);
  }
  return missing(name, false, `uid ${uid} without CAP_CHECKPOINT_RESTORE: dump of this user's own processes works (not of mappings of deleted files or shared memory, which only /proc/PID/map_files reaches), restore does not (it cannot give PIDs back); grant it with \`setcap cap_checkpoint_restore+ep ${node}\` (as root, on a node binary only cryo's users run) or run cryo as root`);
}
