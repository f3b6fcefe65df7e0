// The cgroups each process of the tree is in (cgroup.img, as CRIU's): one set per distinct
// /proc/PID/cgroup, members sorted by hierarchy name as CRIU sorts them ("" is cgroup v2), and
// each thread's core naming its process's set (cg_set); no image when all are in cryo's own cgroups,
// as CRIU does. Restore puts the processes back in them.
// Per hierarchy, the tree's own cgroup (the root process's, or --cgroup-root's) is kept as a dir
// with its subtree, empty cgroups included, their modes and owners and their files (limits and
// such, shared/cgroup-props.ts), as CRIU keeps them (so that restore's --cgroup-root can move
// them); the root cgroup's subtree is the machine's, kept only when --cgroup-root names it.
import type { MessageValue } from '../images/value.js';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ProcReadError, readCgroup, readMountinfo, type MountInfo } from '../proc/index.js';
import { cgroupPropNames, cgroupPropValue, isMemberFile } from '../shared/cgroup-props.js';
import { cgroupDir, cgroupMountFor, cgroupRootFor, type CgroupRoots } from '../shared/cgroup-root.js';

export interface CgroupSets {
  /** The set id of each process. */
  ofPid: Map<number, number>;
  /** cgroup.img's one entry; none when every process is in cryo's own cgroups (as CRIU leaves it out then). */
  entry?: MessageValue;
  /** The set cryo itself is in (inventory's root_cg_set: CRIU's restore moves no process of that set). */
  ownSet: number;
}

/** A process's memberships as cg_member_entry values, in CRIU's order. */
function members(pid: number): { name: string; path: string }[] {
  let entries;
  try {
    entries = readCgroup(pid);
  } catch (e) {
    if (e instanceof ProcReadError && e.gone) return []; // a kernel without cgroups (no file)
    throw e;
  }
  return entries
    .map((c) => ({ name: c.controllers.join(','), path: c.path }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The cgroup files of `dir` kept for hierarchy `hier`, with their modes and owners (those missing on this kernel left out). */
function propsOf(dir: string, hier: string): MessageValue[] {
  const props: MessageValue[] = [];
  for (const name of cgroupPropNames(hier)) {
    const file = path.join(dir, name);
    let st, text;
    try {
      st = statSync(file);
      text = isMemberFile(name) ? '' : readFileSync(file, 'utf8');
    } catch {
      continue; // not on this kernel, or not readable: restore leaves the kernel's default
    }
    props.push({ name, value: cgroupPropValue(name, text), perms: { mode: st.mode, uid: st.uid, gid: st.gid } });
  }
  return props;
}

/** cgroup_dir_entry of directory `dir` named `name` in hierarchy `hier`, with its files and its subdirectories (each a cgroup). */
function dirEntry(hier: string, dir: string, name: string, withChildren = true): MessageValue {
  const st = statSync(dir);
  const children = withChildren ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => dirEntry(hier, path.join(dir, d.name), d.name)) : [];
  // The root cgroup's files are the machine's: not kept.
  const properties = name === '' ? [] : propsOf(dir, hier);
  return { dir_name: name, children, properties, dir_perms: { mode: st.mode, uid: st.uid, gid: st.gid } };
}

/** The dirs of hierarchy `name` to keep: its cgroup `root` and what is under it (alone where this mount namespace cannot see it). */
function dirsOf(mounts: readonly MountInfo[], name: string, root: string, explicit: boolean): MessageValue[] {
  const mount = cgroupMountFor(mounts, name, root);
  const dir = mount && cgroupDir(mount, root);
  if (!dir || !existsSync(dir)) return [{ dir_name: root.slice(1), children: [] }];
  // The root cgroup's subtree is the machine's: its mode alone, unless --cgroup-root named it.
  return [dirEntry(name, dir, root.slice(1), root !== '/' || explicit)];
}

export function collectCgroups(pids: readonly number[], roots?: CgroupRoots): CgroupSets {
  const ids = new Map<string, number>();
  const sets: MessageValue[] = [];
  const ofPid = new Map<number, number>();
  const hierarchies = new Set<string>();
  const setOf = (ctls: { name: string; path: string }[]) => {
    const key = JSON.stringify(ctls);
    let id = ids.get(key);
    if (id === undefined) {
      id = sets.length + 1;
      ids.set(key, id);
      sets.push({ id, ctls });
      for (const c of ctls) hierarchies.add(c.name);
    }
    return id;
  };
  for (const pid of pids) ofPid.set(pid, setOf(members(pid)));
  const own = members(process.pid);
  // All in cryo's own cgroups: nothing to put back.
  if (!roots && sets.length === 1 && JSON.stringify(own) === [...ids.keys()][0]) return { ofPid, ownSet: 1 };
  const ownSet = setOf(own);
  // Every hierarchy of the sets by its names (cgroup v2: one empty name), where CRIU's restore looks
  // each member up, with the tree's own cgroup (the first process's, pids[0] being the root).
  const rootSet = (sets[0]?.ctls ?? []) as { name: string; path: string }[];
  const mounts = readMountinfo('self');
  const controllers = [...hierarchies].map((h) => {
    const cnames = h === '' ? [''] : h.split(',');
    const given = cgroupRootFor(roots, cnames);
    return { cnames, dirs: dirsOf(mounts, h, given ?? rootSet.find((c) => c.name === h)?.path ?? '/', given !== undefined) };
  });
  return { ofPid, ownSet, entry: { sets, controllers } };
}
