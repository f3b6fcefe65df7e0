// The cgroup options dump and restore share, spelled as CRIU's: --manage-cgroups[=MODE] (its
// value may be left out) and --cgroup-root [CONTROLLER:]/PATH, repeatable.
import { UsageError } from '../command.js';
import { parseCgroupRoots, type CgroupRoots } from '../../shared/cgroup-root.js';
import { CGROUP_MODES, type CgroupMode } from '../../restore/cgroups.js';

export const cgroupOptionSpecs = {
  'manage-cgroups': { type: 'string' },
  'cgroup-root': { type: 'string', multiple: true },
} as const;

/** `args` with a bare --manage-cgroups (no value after it) given CRIU's default, soft. */
export const withManageCgroupsDefault = (args: readonly string[]): string[] =>
  args.map((a, i) => (a === '--manage-cgroups' && (i + 1 === args.length || args[i + 1]!.startsWith('-')) ? '--manage-cgroups=soft' : a));

export function manageCgroupsOf(value: string | undefined): CgroupMode {
  const mode = value ?? 'soft';
  if (!(CGROUP_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`--manage-cgroups ${mode}: expected one of CRIU's modes: soft (the default: put each process back, make missing cgroups with their limits), full (also write the limits of cgroups that are there), strict (refuse a cgroup that is there with other limits), props or none (make no cgroup: write the limits, or not), ignore (leave the processes in cryo's cgroups)`);
  }
  return mode as CgroupMode;
}

export function cgroupRootsOf(values: readonly string[] | undefined): CgroupRoots | undefined {
  if (values === undefined || values.length === 0) return undefined;
  try {
    return parseCgroupRoots(values);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
