// The images of a dumped tree that hold what was read of it already (cores, mm, files, pstree,
// stats...): written while the tree is frozen when it is killed after, once it runs again when it
// is left running (src/dump/index.ts).
import path from 'node:path';
import { symlinkSync, rmSync } from 'node:fs';
import type { Arch } from '../arch/types.js';
import { type MessageValue, PARENT_LINK, recordParentHashes } from '../images/index.js';
import { CRYO_SEM_UNDO_IMAGE, writeSemUndo } from '../images/cryo-sem-undo.js';
import type { SemUndo } from '../images/cryo-sem-undo.js';
import { writeCryoCpu } from '../images/cryo-cpu.js';
import type { ImageSet } from './image-set.js';
import type { FileTable } from './files.js';
import { writeProcess, type DumpedProcess } from './process.js';
import { shpages, writeFileImages } from './file-images.js';
import { seccompTable } from './threads.js';
import type { TreeMember } from './tree.js';

const TASK_DEAD = 2;

export interface TreeImages {
  images: ImageSet;
  arch: Arch;
  procs: readonly DumpedProcess[];
  members: readonly TreeMember[];
  /** The zombies of the tree, with their names read while it was frozen. */
  zombies: readonly { m: TreeMember; comm: string }[];
  files: FileTable;
  semUndo: readonly SemUndo[];
  cgroupEntry?: MessageValue;
  /** --prev-images-dir: the parent dump's directory, and the path as given. */
  parent?: { dir: string; given: string };
  stats: { freezingUs: number; frozenUs: number; memTime: number; memWriteTime: number; scanned: number; written: number; skippedParent: number };
}

export function writeTreeImages(t: TreeImages): void {
  const { images, arch, procs, files, stats } = t;
  if (t.cgroupEntry) images.write('cgroup', undefined, 'CGROUP', [t.cgroupEntry]);
  const seccompFilters = seccompTable(procs.flatMap((p) => p.threads));
  for (const p of procs) writeProcess(p, images, arch);
  for (const { m, comm } of t.zombies) {
    images.write('core', m.pid, 'CORE', [{ mtype: arch.criuMarch, tc: { task_state: TASK_DEAD, exit_code: m.exitCode, personality: 0, flags: 0, blk_sigset: 0n, comm } }]);
  }
  writeFileImages(images, files, procs, arch, procs.length + 1);
  if (t.semUndo.length > 0) {
    writeSemUndo(images.dir, [...t.semUndo]);
    images.record(path.join(images.dir, CRYO_SEM_UNDO_IMAGE));
  }
  images.write('pstree', undefined, 'PSTREE', t.members.map((m) => ({ pid: m.pid, ppid: m.ppid, pgid: m.pgid, sid: m.sid, threads: m.tids })));
  images.write('seccomp', undefined, 'SECCOMP', [seccompFilters.length === 0 ? {} : { seccomp_filters: seccompFilters }]);
  // The CPU's features and byte order, where the architecture records them (CRIU's cpuinfo image).
  const cpuinfo = arch.cpuinfo?.();
  if (cpuinfo !== undefined) images.write('cpuinfo', undefined, 'CPUINFO', [cpuinfo as MessageValue]);
  const cryoCpu = arch.cryoCpu?.();
  if (cryoCpu !== undefined) writeCryoCpu(images.dir, cryoCpu as MessageValue);
  if (t.parent) linkParent(images.dir, t.parent.dir, t.parent.given);
  const sh = shpages(files, arch.pageSize);
  images.write('statsDump', undefined, 'STATS', [{
    dump: {
      freezing_time: stats.freezingUs, frozen_time: stats.frozenUs,
      // Pages move from the task and into the image in one pass: the time in writes is memwrite's, the rest memdump's.
      memdump_time: Math.round((stats.memTime - stats.memWriteTime) * 1000), memwrite_time: Math.round(stats.memWriteTime * 1000),
      pages_scanned: BigInt(stats.scanned), pages_skipped_parent: BigInt(stats.skippedParent), pages_written: BigInt(stats.written), irmap_resolve: 0, pages_lazy: 0n,
      shpages_scanned: sh.scanned, shpages_skipped_parent: BigInt(stats.skippedParent), shpages_written: sh.written,
    },
  }]);
}

/** CRIU's `parent` link (to the path as given, relative to the images directory) and the parent's image hashes. */
function linkParent(dir: string, parent: string, given: string): void {
  const link = path.join(dir, PARENT_LINK);
  rmSync(link, { force: true });
  symlinkSync(given, link);
  recordParentHashes(dir, parent, given);
}
