// The cgroups each process of the tree is in (cgroup.img, as CRIU's): one set per distinct
// /proc/PID/cgroup, members sorted by hierarchy name as CRIU sorts them ("" is cgroup v2), and
// each thread's core naming its process's set (cg_set); no image when all are in cryo's own cgroups,
// as CRIU does. Restore puts the processes back in them.
import type { MessageValue } from '../images/value.js';
import { existsSync } from 'node:fs';
import { procPath, readCgroup } from '../proc/index.js';

export interface CgroupSets {
  /** The set id of each process. */
  ofPid: Map<number, number>;
  /** cgroup.img's one entry; none when every process is in cryo's own cgroups (as CRIU leaves it out then). */
  entry?: MessageValue;
}

/** A process's memberships as cg_member_entry values, in CRIU's order. */
function members(pid: number): { name: string; path: string }[] {
  if (!existsSync(procPath(pid, 'cgroup'))) return []; // a kernel without cgroups
  return readCgroup(pid)
    .map((c) => ({ name: c.controllers.join(','), path: c.path }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function collectCgroups(pids: readonly number[]): CgroupSets {
  const ids = new Map<string, number>();
  const sets: MessageValue[] = [];
  const ofPid = new Map<number, number>();
  const hierarchies = new Set<string>();
  for (const pid of pids) {
    const ctls = members(pid);
    const key = JSON.stringify(ctls);
    let id = ids.get(key);
    if (id === undefined) {
      id = sets.length + 1;
      ids.set(key, id);
      sets.push({ id, ctls });
      for (const c of ctls) hierarchies.add(c.name);
    }
    ofPid.set(pid, id);
  }
  // All in cryo's own cgroups: nothing to put back.
  if (sets.length === 1 && JSON.stringify(members(process.pid)) === [...ids.keys()][0]) return { ofPid };
  // Every hierarchy of the sets by its names (cgroup v2: one empty name), where CRIU's restore looks
  // each member up. No dirs: cryo makes a missing cgroup from the member's path.
  const controllers = [...hierarchies].map((h) => ({ cnames: h === '' ? [''] : h.split(',') }));
  return { ofPid, entry: { sets, controllers } };
}
