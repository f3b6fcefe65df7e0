// The cgroup options dump and restore share, spelled as CRIU's: --manage-cgroups[=MODE] (its
// value may be left out) and --cgroup-root [CONTROLLER:]/PATH, repeatable.
import { UsageError } from '../command.js';
import { parseCgroupRoots, type CgroupRoots } from '../../shared/cgroup-root.js';
import type { CgroupMode } from '../../restore/cgroups.js';

export const cgroupOptionSpecs = {
  'manage-cgroups': { type: 'string' },
  'cgroup-root': { type: 'string', multiple: true },
} as const;

/** `args` with a bare --manage-cgroups (no value after it) given CRIU's default, soft. */
export const withManageCgroupsDefault = (args: readonly string[]): string[] =>
  args.map((a, i) => (a === '--manage-cgroups' && (i + 1 === args.length || args[i + 1]!.startsWith('-')) ? '--manage-cgroups=soft' : a));

export function manageCgroupsOf(value: string | undefined): CgroupMode {
  const mode = value ?? 'soft';
  if (mode !== 'soft' && mode !== 'ignore') throw new UsageError(`--manage-cgroups ${mode}: expected soft (put each process back into its cgroups, the default) or ignore (leave them in cryo's)`);
  return mode;
}

export function cgroupRootsOf(values: readonly string[] | undefined): CgroupRoots | undefined {
  if (values === undefined || values.length === 0) return undefined;
  try {
    return parseCgroupRoots(values);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
