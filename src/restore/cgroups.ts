// The restored processes go back into the cgroups they were in (cgroup.img's sets, as CRIU's
// --manage-cgroups=soft): cryo's stubs start in cryo's own cgroups, and each process is moved by
// writing its PID to cgroup.procs of its cgroup in every hierarchy where that differs (a cgroup
// missing on this machine is made; its properties are the kernel's defaults). A hierarchy with
// no mount here (a named v1 hierarchy such as name=systemd, or a v1 controller) is mounted on a
// temporary directory for the restore. Refused before anything starts when a hierarchy cannot be
// reached; `--manage-cgroups ignore` leaves every process in cryo's cgroups instead.
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MessageValue } from '../images/value.js';
import { decodeImageFile } from '../images/index.js';
import { parseCgroup, readMountinfo, readProcText, procPath } from '../proc/index.js';
import { cstr, errnoName, rawSyscall, sleepSync, SysError } from '../sys/index.js';
import { RestoreError } from '../shared/restore-error.js';

export type CgroupMode = 'soft' | 'ignore';

const MNT_DETACH = 2;

interface Member { name: string; path: string }

/** How a hierarchy is named in /proc/PID/cgroup and cgroup.img ("" is cgroup v2). */
const hierarchyLabel = (name: string) => (name === '' ? 'the cgroup v2 hierarchy' : `the ${name} hierarchy`);

export class CgroupPlacement {
  private readonly sets = new Map<number, Member[]>();
  /** Where each hierarchy's root is reachable, by name. */
  private readonly roots = new Map<string, { dir: string; root: string }>();
  private readonly mounted: string[] = [];
  private readonly made: string[] = [];
  private readonly own: Map<string, string>;

  constructor(dir: string, mode: CgroupMode) {
    const file = path.join(dir, 'cgroup.img');
    const own = procPath('self', 'cgroup');
    this.own = new Map(existsSync(own) ? parseCgroup(readProcText(own)).map((c) => [c.controllers.join(','), c.path]) : []);
    if (mode === 'ignore' || !existsSync(file)) return;
    const entry = decodeImageFile(file).entries[0]?.value;
    for (const s of (entry?.sets as MessageValue[] | undefined) ?? []) {
      this.sets.set(Number(s.id), ((s.ctls as MessageValue[] | undefined) ?? []).map((c) => ({ name: String(c.name), path: String(c.path) })));
    }
  }

  /** The memberships of set `id` that differ from cryo's own (what placing a process changes). */
  private moves(id: number, why: string): Member[] {
    if (this.sets.size === 0 || id === 0) return [];
    const set = this.sets.get(id);
    if (set === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `${why} is in cgroup set ${id}, which cgroup.img does not hold: cryo cannot restore it`);
    // The root of a hierarchy this machine does not have (another machine's v1 controllers, say) asks for nothing.
    return set.filter((m) => this.own.get(m.name) !== m.path && !(m.path === '/' && !this.own.has(m.name)));
  }

  /** Preflight: every hierarchy a process must move in is reachable (mounted, or mounted now for the restore). */
  check(placements: readonly { pid: number; set: number }[]): void {
    for (const p of placements) {
      for (const m of this.moves(p.set, `process ${p.pid}`)) this.rootOf(m, p.pid);
    }
  }

  private rootOf(m: Member, pid: number): { dir: string; root: string } {
    const known = this.roots.get(m.name);
    if (known) return known;
    const wanted = m.name.split(',');
    const mount = readMountinfo('self').find((x) => (m.name === ''
      ? x.fsType === 'cgroup2'
      : x.fsType === 'cgroup' && wanted.every((c) => x.superOptions.split(',').includes(c))) && (m.path + '/').startsWith(x.root === '/' ? '/' : x.root + '/'));
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
      this.mounted.push(dir);
      found = { dir, root: '/' };
    }
    this.roots.set(m.name, found);
    return found;
  }

  /** Moves process `pid` (all its threads) into the cgroups of set `id`, making the ones missing. */
  place(pid: number, id: number): void {
    for (const m of this.moves(id, `process ${pid}`)) {
      const { dir, root } = this.rootOf(m, pid);
      const target = path.join(dir, root === '/' ? m.path : m.path.slice(root.length));
      const missing: string[] = [];
      for (let d = target; !existsSync(d) && d.startsWith(dir + '/'); d = path.dirname(d)) missing.unshift(d);
      for (const d of missing) {
        mkdirSync(d);
        this.made.push(d);
      }
      try {
        writeFileSync(path.join(target, 'cgroup.procs'), `${pid}\n`);
      } catch (e) {
        throw new RestoreError('FAILED', `process ${pid} cannot go back into cgroup ${m.path} of ${hierarchyLabel(m.name)}: ${(e as Error).message}`);
      }
    }
  }

  /** Unmounts what the restore mounted; a failed restore also removes the cgroups it made (once their processes are gone). */
  end(failed: boolean): void {
    if (failed) {
      for (const d of this.made.splice(0).reverse()) {
        for (let i = 0; i < 50; i++) {
          try { rmdirSync(d); break; } catch { sleepSync(20); }
        }
      }
    }
    for (const d of this.mounted.splice(0)) {
      try { rawSyscall('umount2', cstr(d), MNT_DETACH); rmdirSync(d); } catch { /* left for the machine's owner */ }
    }
  }
}
