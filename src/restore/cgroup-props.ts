// A restored cgroup's files (cgroup.img's properties, shared/cgroup-props.ts): each written back
// where its value differs from the kernel's, and given its dumped mode and owner.
import { chmodSync, chownSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cgroupPropValue, isMemberFile, isPerLineFile } from '../shared/cgroup-props.js';

export interface Perms { mode: number; uid: number; gid: number }
/** A file of a cgroup (cgroup_prop_entry). */
export interface Prop { name: string; value: string; perms?: Perms }

export function setPerms(file: string, perms: Perms): void {
  const st = statSync(file);
  if (st.uid !== perms.uid || st.gid !== perms.gid) chownSync(file, perms.uid, perms.gid);
  if ((st.mode & 0o7777) !== (perms.mode & 0o7777)) chmodSync(file, perms.mode & 0o7777);
}

/** Writes `text` to cgroup file `file`; the errno's name when the kernel refuses it. */
function tryWrite(file: string, text: string): string | undefined {
  try {
    writeFileSync(file, text);
    return undefined;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

/** The value of `p`'s file in cgroup `dir` now, where it differs from the dumped one (a member file's contents never do). */
export function propDiffers(dir: string, p: Prop): string | undefined {
  const file = path.join(dir, p.name);
  if (isMemberFile(p.name) || !existsSync(file)) return undefined; // a file this kernel lacks: its default stays
  const now = cgroupPropValue(p.name, readFileSync(file, 'utf8'));
  // A domain cgroup's type is the kernel's to give: only "threaded" is written back.
  if (now === p.value || (p.name === 'cgroup.type' && p.value !== 'threaded')) return undefined;
  return now;
}

/** Writes property `p` of the cgroup at `dir` where it differs, then its mode and owner; what the kernel refused, if it did. */
export function writeProp(dir: string, p: Prop): string | undefined {
  const file = path.join(dir, p.name);
  const now = propDiffers(dir, p);
  let failed: string | undefined;
  if (now === undefined) {
    // nothing to write
  } else if (p.name === 'cgroup.subtree_control') {
    const want = p.value.split(' ').filter(Boolean);
    const have = now.split(' ').filter(Boolean);
    failed = tryWrite(file, [...have.filter((c) => !want.includes(c)).map((c) => `-${c}`), ...want.filter((c) => !have.includes(c)).map((c) => `+${c}`)].join(' '));
  } else if (p.name === 'devices.list') {
    // Only the allowed list can be read: deny everything, then allow what was allowed.
    failed = tryWrite(path.join(dir, 'devices.deny'), 'a') ?? p.value.split('\n').map((l) => tryWrite(path.join(dir, 'devices.allow'), l)).find(Boolean);
  } else if (isPerLineFile(p.name)) {
    for (const line of p.value.split('\n')) tryWrite(file, line);
  } else {
    failed = tryWrite(file, p.value);
    // Deprecated and refused by newer kernels; CRIU lets it be too.
    if (failed === 'EOPNOTSUPP' && p.name === 'memory.kmem.limit_in_bytes') failed = undefined;
  }
  if (failed === undefined && p.perms && existsSync(file)) setPerms(file, p.perms);
  return failed;
}
