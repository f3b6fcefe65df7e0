// The restored processes go back into the cgroups they were in (cgroup.img's sets, as CRIU's
// --manage-cgroups): cryo's stubs start in cryo's own cgroups, and each process is moved by
// writing its PID to cgroup.procs of its cgroup in every hierarchy where that differs (a cgroup
// missing on this machine is made, with its dumped files: limits; MODES says what each mode
// makes and writes). A hierarchy with
// no mount here (a named v1 hierarchy such as name=systemd, or a v1 controller) is mounted on a
// temporary directory for the restore. Refused before anything starts when a hierarchy cannot be
// reached; `--manage-cgroups ignore` leaves every process in cryo's cgroups instead.
// The tree's own cgroups (controllers' dirs: the dumped root cgroup and its subtree, empty ones
// included) are made where missing, with their dumped modes and owners; --cgroup-root moves that
// subtree, members and all, to another place in the hierarchy (CRIU's rewrite of cgroup roots).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MessageValue } from '../images/value.js';
import { decodeImageFile } from '../images/index.js';
import { parseCgroup, readMountinfo, readProcText, procPath } from '../proc/index.js';
import { cstr, errnoName, rawSyscall, sleepSync, SysError } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';
import { guardDir, guardMount, type Taken } from '../sys/guardian.js';
import { isCgroupPropName } from '../shared/cgroup-props.js';
import { propDiffers, setPerms, writeProp, type Perms, type Prop } from './cgroup-props.js';
import { cgroupMountFor, cgroupRootFor, isCgroupPath, moveCgroupPath, type CgroupRoots } from '../shared/cgroup-root.js';

export type CgroupMode = 'none' | 'props' | 'soft' | 'full' | 'strict' | 'ignore';
export const CGROUP_MODES: readonly CgroupMode[] = ['none', 'props', 'soft', 'full', 'strict', 'ignore'];

const MNT_DETACH = 2;

interface Member { name: string; path: string }
/** A cgroup of the tree's own subtree, to be made if missing. */
interface Dir extends Member { perms?: Perms; props: Prop[] }

/**
 * CRIU's --manage-cgroups modes: whether missing cgroups are made (otherwise refused), and whose
 * files are written (`strict` refuses a cgroup that was there with other values).
 */
const MODES: Readonly<Record<Exclude<CgroupMode, 'ignore'>, { make: boolean; props: 'none' | 'made' | 'all'; strict?: true }>> = {
  none: { make: false, props: 'none' },
  props: { make: false, props: 'all' },
  soft: { make: true, props: 'made' },
  full: { make: true, props: 'all' },
  strict: { make: true, props: 'made', strict: true },
};

const permsOf = (p: MessageValue | undefined): Perms | undefined => p && { mode: Number(p.mode), uid: Number(p.uid), gid: Number(p.gid) };

/** How a hierarchy is named in /proc/PID/cgroup and cgroup.img ("" is cgroup v2). */
const hierarchyLabel = (name: string) => (name === '' ? 'the cgroup v2 hierarchy' : `the ${name} hierarchy`);

/** `p` from cgroup.img, checked: a path that climbs out of its hierarchy is refused. */
function cgroupPathOf(p: string): string {
  if (!isCgroupPath(p)) throw new RestoreError('IMAGE_INCONSISTENT', `cgroup.img names cgroup ${JSON.stringify(p)}, which is not a cgroup path: cryo cannot restore it`);
  return p;
}

/**
 * A v1 cpuset cgroup starts with no CPUs and no memory nodes, and no process can join it (ENOSPC):
 * it gets its parent's, as cgroup.clone_children would give it.
 */
function inheritCpuset(dir: string): void {
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const from = path.join(path.dirname(dir), f);
    if (existsSync(from)) writeFileSync(path.join(dir, f), readFileSync(from));
  }
}

export class CgroupPlacement {
  private readonly sets = new Map<number, Member[]>();
  /** Where each hierarchy's root is reachable, by name. */
  private readonly roots = new Map<string, { dir: string; root: string }>();
  private readonly mounted: { dir: string; taken: Taken }[] = [];
  private readonly made: { dir: string; taken: Taken }[] = [];
  private readonly own: Map<string, string>;

  private readonly dirs: Dir[] = [];

  private readonly policy: (typeof MODES)[keyof typeof MODES];

  constructor(dir: string, private readonly mode: CgroupMode, roots?: CgroupRoots) {
    this.policy = MODES[mode === 'ignore' ? 'none' : mode];
    const file = path.join(dir, 'cgroup.img');
    const own = procPath('self', 'cgroup');
    this.own = new Map(existsSync(own) ? parseCgroup(readProcText(own)).map((c) => [c.controllers.join(','), c.path]) : []);
    if (mode === 'ignore' || !existsSync(file)) return;
    const entry = decodeImageFile(file).entries[0]?.value;
    // Per hierarchy, where its dumped root cgroup goes (itself, or --cgroup-root's).
    const moved = new Map<string, { from: string; to: string }>();
    for (const c of (entry?.controllers as MessageValue[] | undefined) ?? []) {
      const cnames = ((c.cnames as unknown[] | undefined) ?? []).map(String);
      const name = cnames.join(',');
      const top = (c.dirs as MessageValue[] | undefined)?.[0];
      if (top === undefined) continue;
      const from = cgroupPathOf('/' + String(top.dir_name));
      const to = cgroupRootFor(roots, cnames) ?? from;
      moved.set(name, { from, to });
      this.collectDirs(name, top, to);
    }
    const place = (m: Member): Member => {
      const r = moved.get(m.name);
      return { name: m.name, path: (r && moveCgroupPath(m.path, r.from, r.to)) ?? m.path };
    };
    for (const s of (entry?.sets as MessageValue[] | undefined) ?? []) {
      this.sets.set(Number(s.id), ((s.ctls as MessageValue[] | undefined) ?? []).map((c) => place({ name: String(c.name), path: cgroupPathOf(String(c.path)) })));
    }
  }

  /** Dir entry `d` (at `at` in hierarchy `name`) and its children. */
  private collectDirs(name: string, d: MessageValue, at: string): void {
    const props = ((d.properties as MessageValue[] | undefined) ?? []).map((p) => {
      const prop = String(p.name);
      if (!isCgroupPropName(prop)) throw new RestoreError('IMAGE_INCONSISTENT', `cgroup.img names a file ${JSON.stringify(prop)} of cgroup ${at}, which is not a cgroup file: cryo cannot restore it`);
      return { name: prop, value: String(p.value ?? ''), perms: permsOf(p.perms as MessageValue | undefined) };
    });
    this.dirs.push({ name, path: at, perms: permsOf(d.dir_perms as MessageValue | undefined), props });
    for (const c of (d.children as MessageValue[] | undefined) ?? []) {
      const child = String(c.dir_name);
      if (child === '' || child.includes('/') || child === '.' || child === '..') throw new RestoreError('IMAGE_INCONSISTENT', `cgroup.img names a cgroup ${JSON.stringify(child)} under ${at}: cryo cannot restore it`);
      this.collectDirs(name, c, path.posix.join(at, child));
    }
  }

  /** The memberships of set `id` that differ from cryo's own (what placing a process changes). */
  private moves(id: number, why: string): Member[] {
    if (this.sets.size === 0 || id === 0) return [];
    const set = this.sets.get(id);
    if (set === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `${why} is in cgroup set ${id}, which cgroup.img does not hold: cryo cannot restore it`);
    // The root of a hierarchy this machine does not have (another machine's v1 controllers, say) asks for nothing.
    return set.filter((m) => !this.isOwn(m));
  }

  /** Preflight: every hierarchy a process must move in is reachable (mounted, or mounted now for the restore). */
  check(placements: readonly { pid: number; set: number }[]): void {
    for (const p of placements) {
      for (const m of this.moves(p.set, `process ${p.pid}`)) this.rootOf(m, p.pid);
    }
    // The tree's own cgroups are made in the hierarchies this machine has or the processes go into.
    const used = new Set(placements.flatMap((p) => this.moves(p.set, `process ${p.pid}`).map((m) => m.name)));
    const made = this.dirs.splice(0).filter((d) => !this.isOwn(d) && (this.own.has(d.name) || used.has(d.name)));
    this.dirs.push(...made);
    for (const d of made) this.rootOf(d, placements[0]?.pid ?? 0);
    // A mode that makes no cgroup: every one the processes go into must be there already.
    if (!this.policy.make) for (const p of placements) for (const m of this.moves(p.set, `process ${p.pid}`)) this.make(m, p.pid);
  }

  /** The cgroup cryo itself is in, or the root of a hierarchy this machine does not have. */
  private isOwn(m: Member): boolean {
    return this.own.get(m.name) === m.path || (m.path === '/' && !this.own.has(m.name));
  }

  private rootOf(m: Member, pid: number): { dir: string; root: string } {
    const known = this.roots.get(m.name);
    if (known) return known;
    const mount = cgroupMountFor(readMountinfo('self'), m.name, m.path);
    let found: { dir: string; root: string };
    if (mount) {
      found = { dir: mount.mountPoint, root: mount.root };
    } else {
      const refuse = (how: string) => new RestoreError('UNSUPPORTED', `process ${pid} was in cgroup ${m.path} of ${hierarchyLabel(m.name)}, which ${how}: restore with --manage-cgroups ignore to leave it in cryo's cgroups`);
      if (m.name === '') throw refuse('is mounted nowhere on this machine');
      const dir = mkdtempSync(path.join(tmpdir(), 'cryo-cgroup-'));
      const opts = m.name.startsWith('name=') ? `none,${m.name}` : m.name;
      try {
        rawSyscall('mount', cstr('cgroup'), cstr(dir), cstr('cgroup'), 0, cstr(opts));
      } catch (e) {
        rmdirSync(dir);
        if (e instanceof SysError) throw refuse(`this machine cannot mount (${errnoName(e.errno)} from mount -t cgroup -o ${opts})`);
        throw e;
      }
      this.mounted.push({ dir, taken: guardMount(dir) });
      found = { dir, root: '/' };
    }
    this.roots.set(m.name, found);
    return found;
  }

  /** Makes cgroup `m` and its missing ancestors; returns its directory, and whether it was made now. */
  private make(m: Member, pid: number, perms?: Perms): { target: string; made: boolean } {
    const { dir, root } = this.rootOf(m, pid);
    const target = path.join(dir, root === '/' ? m.path : m.path.slice(root.length));
    const missing: string[] = [];
    for (let d = target; !existsSync(d) && d.startsWith(dir + '/'); d = path.dirname(d)) missing.unshift(d);
    if (missing.length > 0 && !this.policy.make) {
      throw new RestoreError('UNSUPPORTED', `cgroup ${m.path} of ${hierarchyLabel(m.name)} is not on this machine, and --manage-cgroups ${this.mode} makes none: make it, or restore with --manage-cgroups soft`);
    }
    for (const d of missing) {
      mkdirSync(d);
      this.made.push({ dir: d, taken: guardDir(d) });
      if (m.name.split(',').includes('cpuset')) inheritCpuset(d);
    }
    // A cgroup made now gets its dumped mode and owner (one that was there keeps its own).
    const made = missing.includes(target);
    if (perms && made) setPerms(target, perms);
    return { target, made };
  }

  /**
   * Makes the tree's own cgroups that are missing, empty ones included, before any process is
   * placed, parents first; each made one gets its files (limits) before its children are made.
   * Whose files are written depends on the mode (MODES); the machine's root cgroup's never are.
   */
  makeDirs(pid: number): void {
    for (const d of this.dirs) {
      try {
        const { target, made } = this.make(d, pid, d.perms);
        if (d.path === '/') continue;
        const where = `cgroup ${d.path} of ${hierarchyLabel(d.name)}`;
        for (const p of this.policy.strict && !made ? d.props : []) {
          const now = propDiffers(target, p);
          if (now !== undefined) throw new RestoreError('UNSUPPORTED', `${where} has ${p.name} = ${JSON.stringify(now)}, not the dumped ${JSON.stringify(p.value)} (--manage-cgroups strict): restore with --manage-cgroups full to write it`);
        }
        if (this.policy.props === 'none' || (this.policy.props === 'made' && !made)) continue;
        for (const p of d.props) {
          const failed = writeProp(target, p);
          if (failed !== undefined) throw new RestoreError('FAILED', `${where}: this machine refuses ${p.name} = ${JSON.stringify(p.value)} (${failed}): restore with --manage-cgroups ignore to leave the processes in cryo's cgroups`);
        }
      } catch (e) {
        if (e instanceof RestoreError) throw e;
        throw new RestoreError('FAILED', `cgroup ${d.path} of ${hierarchyLabel(d.name)} cannot be made: ${(e as Error).message}`);
      }
    }
  }

  /** Moves process `pid` (all its threads) into the cgroups of set `id`, making the ones missing. */
  place(pid: number, id: number): void {
    for (const m of this.moves(id, `process ${pid}`)) {
      const { target } = this.make(m, pid);
      try {
        writeFileSync(path.join(target, 'cgroup.procs'), `${pid}\n`);
      } catch (e) {
        throw new RestoreError('FAILED', `process ${pid} cannot go back into cgroup ${m.path} of ${hierarchyLabel(m.name)}: ${(e as Error).message}`);
      }
    }
  }

  /** Unmounts what the restore mounted; a failed restore also removes the cgroups it made (once their processes are gone). */
  end(failed: boolean): void {
    for (const { dir, taken } of this.made.splice(0).reverse()) {
      taken();
      for (let i = 0; failed && i < 50; i++) {
        try { rmdirSync(dir); break; } catch { sleepSync(20); }
      }
    }
    for (const { dir, taken } of this.mounted.splice(0)) {
      taken();
      try { rawSyscall('umount2', cstr(dir), MNT_DETACH); rmdirSync(dir); } catch { /* left for the machine's owner */ }
    }
  }
}
