// Loads and cross-checks every image of a dump directory, before anything is
// started: a corrupt or missing image is one line naming the file (and the
// byte offset, from ImageError).

import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { decodeImageFile, type Image } from '../images/image.js';
import { pagemapHeadImage } from '../images/pages.js';
import { ImageError } from '../images/errors.js';
import { imageFileName, magicForFileName } from '../images/names.js';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from './restore-error.js';
import type { FdOptions } from './fd-options.js';
import { withCryoCore } from '../images/cryo-core.js';
import { VMA } from './vma-kinds.js';
import type { Range } from './ranges.js';

/** One dumped process, as restore needs it. */
export interface RestoreImages {
  readonly dir: string;
  /** Every decoded image (all *.img but raw pages), by file name. */
  readonly all: ReadonlyMap<string, Image>;
  readonly inventory: MessageValue;
  readonly pid: number;
  readonly pstree: MessageValue;
  /** The main thread's core-PID.img. */
  readonly core: MessageValue;
  /** Every thread, the main thread first, with its core-TID.img. */
  readonly threads: readonly { tid: number; core: MessageValue }[];
  readonly ids: MessageValue;
  /** mm.img's entry, its VMAs without the guard regions (those are in `guards`). */
  readonly mm: MessageValue;
  /** The guard regions (MADV_GUARD_INSTALL) mm.img lists among the VMAs, as CRIU 4.2 records them. */
  readonly guards: readonly Range[];
  readonly pagemapFile: string;
  /** file_entry by id (files.img). */
  readonly files: ReadonlyMap<number, MessageValue>;
  /** PIDs and TIDs of the whole dumped tree (pstree.img): one set for all its processes. */
  readonly treeIds: ReadonlySet<number>;
  /** fdinfo entries of the task. */
  readonly fdinfo: readonly MessageValue[];
  readonly fs: MessageValue | undefined;
  readonly seccomp: MessageValue | undefined;
  /** The user's choices for descriptors (restore options), where the caller gave them. */
  readonly fdOptions?: FdOptions;
}

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : (v as number));

const PAGEMAP_NAME = /^pagemap-(shmem-)?\d+\.img$/;

function decodeAll(dir: string): Map<string, Image> {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new RestoreError('IMAGE_MISSING', `cannot read the image directory ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const all = new Map<string, Image>();
  for (const name of names.sort()) {
    // Raw pages are read by the PageReader; cryo-*.img are cryo's own images (their own readers).
    if (!name.endsWith('.img') || /^pages-\d+\.img$/.test(name) || name.startsWith('cryo-')) continue;
    const file = path.join(dir, name);
    try {
      // A pagemap's runs are read by the PageReader: here only its head (the runs checked whole).
      const img = (PAGEMAP_NAME.test(name) ? pagemapHeadImage(file) : undefined) ?? decodeImageFile(file);
      const want = magicForFileName(name);
      if (want !== undefined && want !== img.magic) {
        throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${file} holds a ${img.magic} image, not the ${want} image its name says: restore from an intact copy of the images`);
      }
      all.set(name, img);
    } catch (e) {
      if (e instanceof RestoreError) throw e;
      if (e instanceof ImageError) throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${e.message}`, { cause: e });
      throw new RestoreError('IMAGE_CORRUPT', `corrupt image ${file}: ${(e as Error).message}`, { cause: e });
    }
  }
  return all;
}

/** One process of a dumped tree, from pstree.img. */
export interface TreeEntry {
  readonly pid: number;
  /** 0 for the root. */
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
  /** A zombie (core tc.task_state TASK_DEAD): it has only its core image. */
  readonly zombie: boolean;
  /** A zombie's wait status (exit code << 8 | signal). */
  readonly exitCode: number;
  readonly comm: string;
  /** Its images (a live process only). */
  readonly img?: RestoreImages;
}

/** Every process of a dump, in pstree order (parents before their children). */
export interface RestoreTree {
  readonly dir: string;
  readonly entries: readonly TreeEntry[];
  /** The root process's images. */
  readonly root: RestoreImages;
}

const TASK_DEAD = 2;

/** Reads and decodes every image in `dir` and picks out the root process's. */
export function loadImages(dir: string): RestoreImages {
  return loadTree(dir).root;
}

/** Reads and decodes every image in `dir`: every process of the dumped tree. */
export function loadTree(dir: string): RestoreTree {
  const all = decodeAll(dir);
  const need = (name: string): Image => {
    const img = all.get(name);
    if (img === undefined) throw new RestoreError('IMAGE_MISSING', `${path.join(dir, name)} is missing: ${dir} is not a complete dump`);
    return img;
  };
  const one = (name: string): MessageValue => {
    const img = need(name);
    const first = img.entries[0];
    if (first === undefined) throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${path.join(dir, name)} has no entries`);
    return first.value;
  };

  const inventory = one('inventory.img');
  if (num(inventory.img_version) !== 2) {
    throw new RestoreError('UNSUPPORTED', `inventory.img has image version ${inventory.img_version}; cryo restores version 2 (CRIU >= 1.x)`);
  }
  const tree = need('pstree.img').entries.map((e) => e.value);
  if (tree.length === 0) throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${path.join(dir, 'pstree.img')} has no entries`);
  const seen = new Set<number>();
  const entries: TreeEntry[] = [];
  const files = filesById(all);
  const treeIds = idsOf(tree);
  for (const [i, pstree] of tree.entries()) {
    const pid = num(pstree.pid);
    const ppid = num(pstree.ppid ?? 0);
    if (seen.has(pid)) throw new RestoreError('IMAGE_INCONSISTENT', `pstree.img lists process ${pid} twice`);
    if (i === 0 ? ppid !== 0 : !seen.has(ppid)) {
      throw new RestoreError('IMAGE_INCONSISTENT', i === 0 ? `pstree.img: the root process ${pid} has a parent (${ppid})` : `pstree.img: process ${pid} comes before its parent ${ppid} or its parent is not in the tree`);
    }
    seen.add(pid);
    const core = one(imageFileName('core', pid));
    const tc = (core.tc ?? {}) as MessageValue;
    const base = { pid, ppid, pgid: num(pstree.pgid), sid: num(pstree.sid), exitCode: num(tc.exit_code ?? 0), comm: String(tc.comm ?? '') };
    if (num(tc.task_state ?? 1) === TASK_DEAD) {
      if (i === 0) throw new RestoreError('UNSUPPORTED', `pstree.img: the root process ${pid} is a zombie; there is nothing to restore`);
      entries.push({ ...base, zombie: true });
      continue;
    }
    entries.push({ ...base, zombie: false, img: loadProcess(dir, all, files, treeIds, inventory, pstree, core, one, need) });
  }
  return { dir, entries, root: entries[0]!.img! };
}

/** The tree's files by id (files.img is the tree's: one map for all its processes). */
function filesById(all: Map<string, Image>): Map<number, MessageValue> {
  const files = new Map<number, MessageValue>();
  for (const e of all.get('files.img')?.entries ?? []) files.set(num(e.value.id), e.value);
  // Dumps older than CRIU 3.x keep regular files in reg-files.img.
  for (const e of all.get('reg-files.img')?.entries ?? []) {
    if (!files.has(num(e.value.id))) files.set(num(e.value.id), { type: 'REG', id: e.value.id as number, reg: e.value });
  }
  return files;
}

/** The PIDs and TIDs of pstree.img's processes. */
function idsOf(tree: readonly MessageValue[]): Set<number> {
  const ids = new Set<number>();
  for (const e of tree) {
    ids.add(num(e.pid));
    for (const t of (e.threads as (number | bigint)[] | undefined) ?? []) ids.add(num(t));
  }
  return ids;
}

function loadProcess(
  dir: string, all: Map<string, Image>, files: Map<number, MessageValue>, treeIds: Set<number>, inventory: MessageValue, pstree: MessageValue, core: MessageValue,
  one: (name: string) => MessageValue, need: (name: string) => Image,
): RestoreImages {
  const pid = num(pstree.pid);
  const tids = ((pstree.threads as (number | bigint)[] | undefined) ?? []).map(num);
  if (tids.length > 0 && !tids.includes(pid)) {
    throw new RestoreError('IMAGE_INCONSISTENT', `pstree.img: the threads of process ${pid} (${tids.join(', ')}) do not include the process itself`);
  }
  if (new Set(tids).size !== tids.length) throw new RestoreError('IMAGE_INCONSISTENT', `pstree.img: process ${pid} lists a thread twice (${tids.join(', ')})`);

  const coreOf = (tid: number, c: MessageValue): MessageValue => {
    try {
      return withCryoCore(dir, tid, c);
    } catch (e) {
      throw new RestoreError('IMAGE_CORRUPT', `corrupt image: ${(e as Error).message}`);
    }
  };
  core = coreOf(pid, core);
  const threads = [{ tid: pid, core }, ...tids.filter((t) => t !== pid).map((tid) => ({ tid, core: coreOf(tid, one(imageFileName('core', tid))) }))];
  const ids = (all.has(imageFileName('ids', pid)) ? one(imageFileName('ids', pid)) : core.ids) as MessageValue | undefined;
  if (ids === undefined) throw new RestoreError('IMAGE_MISSING', `${path.join(dir, imageFileName('ids', pid))} is missing`);
  const { mm, guards } = withoutGuards(one(imageFileName('mm', pid)));
  const pagemapFile = path.join(dir, imageFileName('pagemap', pid));
  need(imageFileName('pagemap', pid));

  const fdinfoName = inventory.fdinfo_per_id === true ? imageFileName('fdinfo', num(ids.files_id)) : imageFileName('fdinfo', pid);
  const fdinfo = (all.get(fdinfoName)?.entries ?? []).map((e) => e.value);
  for (const fd of fdinfo) {
    if (!files.has(num(fd.id))) {
      throw new RestoreError('IMAGE_INCONSISTENT', `${fdinfoName}: fd ${fd.fd} refers to file id ${fd.id}, which files.img does not have`);
    }
  }
  const fsName = imageFileName('fs', pid);
  return {
    dir, all, inventory, pid, pstree, core, threads, ids, mm, guards, pagemapFile, files, treeIds, fdinfo,
    fs: all.has(fsName) ? one(fsName) : undefined,
    seccomp: all.has('seccomp.img') ? one('seccomp.img') : undefined,
  };
}

/** mm.img's entry with its guard-region entries (status VMA_AREA_GUARD: no mapping) taken out of the VMAs. */
function withoutGuards(mm: MessageValue): { mm: MessageValue; guards: Range[] } {
  const all = (mm.vmas as MessageValue[] | undefined) ?? [];
  const isGuard = (v: MessageValue) => (num(v.status) & VMA.GUARD) !== 0;
  if (!all.some(isGuard)) return { mm, guards: [] };
  const guards = all.filter(isGuard).map((v) => ({ start: BigInt(v.start as bigint), end: BigInt(v.end as bigint) }));
  return { mm: { ...mm, vmas: all.filter((v) => !isGuard(v)) }, guards };
}

/** The pages file a pagemap names exists (its size is checked against the pagemap by the PageReader). */
export function pagesFileExists(dir: string, pagesId: number): boolean {
  return existsSync(path.join(dir, imageFileName('pages', pagesId)));
}
