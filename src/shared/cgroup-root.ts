// --cgroup-root [CONTROLLER:]/PATH, as CRIU spells it. At dump it names the cgroup whose subtree
// (empty cgroups included) is the tree's own; at restore, where that subtree goes instead. Without
// a controller it stands for every hierarchy that no other --cgroup-root names.
import path from 'node:path';
import type { MountInfo } from '../proc/mountinfo.js';

export interface CgroupRoots {
  all?: string;
  /** By controller name as in /proc/PID/cgroup ("cpu", "name=systemd"). */
  byController: Map<string, string>;
}

/** Parses the option's values; throws an Error whose message says what is wrong. */
export function parseCgroupRoots(values: readonly string[]): CgroupRoots {
  const roots: CgroupRoots = { byController: new Map() };
  for (const v of values) {
    const colon = v.startsWith('/') ? -1 : v.indexOf(':');
    const controller = colon < 0 ? undefined : v.slice(0, colon);
    const given = v.slice(colon + 1);
    if (!given.startsWith('/') || controller === '') throw new Error(`--cgroup-root ${v}: expected [CONTROLLER:]/PATH`);
    const root = path.posix.resolve(given);
    if (controller === undefined) roots.all = root;
    else roots.byController.set(controller, root);
  }
  return roots;
}

/** The root the option names for a hierarchy of controllers `names` ([""] is cgroup v2), if any. */
export function cgroupRootFor(roots: CgroupRoots | undefined, names: readonly string[]): string | undefined {
  for (const [c, root] of roots?.byController ?? []) if (names.includes(c)) return root;
  return roots?.all;
}

/** `cgPath` with its ancestor `from` replaced by `to`; undefined when `cgPath` is not under `from`. */
export function moveCgroupPath(cgPath: string, from: string, to: string): string | undefined {
  const rel = path.posix.relative(from, cgPath);
  if (rel === '..' || rel.startsWith('../')) return undefined;
  return path.posix.join(to, rel);
}

/** A cgroup path as the kernel shows one: absolute, normalized (nothing that climbs out). */
export const isCgroupPath = (p: string): boolean => p.startsWith('/') && path.posix.normalize(p) === p && (p === '/' || !p.endsWith('/'));

/** The mount of hierarchy `name` ("" is cgroup v2) through which cgroup `cgPath` is reachable. */
export function cgroupMountFor(mounts: readonly MountInfo[], name: string, cgPath: string): MountInfo | undefined {
  const wanted = name.split(',');
  return mounts.find((x) => (name === ''
    ? x.fsType === 'cgroup2'
    : x.fsType === 'cgroup' && wanted.every((c) => x.superOptions.split(',').includes(c))) && (cgPath + '/').startsWith(x.root === '/' ? '/' : x.root + '/'));
}

/** Where cgroup `cgPath` is in the file system, through mount `m`. */
export const cgroupDir = (m: MountInfo, cgPath: string): string => path.join(m.mountPoint, m.root === '/' ? cgPath : cgPath.slice(m.root.length));
