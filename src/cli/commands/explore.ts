// `cryo x DIR ps|fds|mems|rss`: crit's explorers over a whole image
// directory, printing the same text.

import path from 'node:path';
import { type Command, UsageError } from '../command.js';
import { specs } from './specs.js';
import { decodeImageFile, imageToCrit } from '../../images/image.js';
import type { JsonObject, JsonValue } from '../../images/json-text.js';

type Obj = JsonObject;

/** crit's view of an image: plain (not pretty) JSON entries. */
function load(dir: string, name: string): Obj[] {
  return imageToCrit(decodeImageFile(path.join(dir, name)), false).entries as Obj[];
}

const int = (v: JsonValue | undefined): bigint => (typeof v === 'bigint' ? v : BigInt((v as number | undefined) ?? 0));
const d = (v: JsonValue | undefined): string => int(v).toString();
const x = (v: JsonValue | undefined): string => int(v).toString(16);
const rpad = (s: string, n: number): string => s.padEnd(n);
const lpad = (s: string, n: number): string => s.padStart(n);

function taskId(p: Obj, key: string): JsonValue {
  return key in p ? p[key] : (p[`ns_${key}`] as JsonValue[])[0];
}

/** Names of files by (type, id), looked up in files.img like crit does. */
class FileNames {
  private files: Obj[] | undefined;
  private readonly images = new Map<string, Obj[]>();
  private readonly cache = new Map<string, string>();
  constructor(private readonly dir: string) {}

  private find(field: string, image: string, id: JsonValue): Obj | undefined {
    if (this.files === undefined) {
      try {
        this.files = load(this.dir, 'files.img');
      } catch {
        this.files = [];
      }
    }
    const f = this.files.find((e) => int(e.id) === int(id));
    if (f) return (f[field] as Obj | undefined) ?? undefined;
    // Not in files.img (or no files.img): crit looks in the per-type image.
    let list = this.images.get(image);
    if (!list) this.images.set(image, (list = load(this.dir, image)));
    return list.find((e) => int(e.id) === int(id));
  }

  get(type: string, id: JsonValue): string {
    const key = `${type}/${d(id)}`;
    let s = this.cache.get(key);
    if (s !== undefined) return s;
    if (type === 'REG') {
      const rf = this.find('reg', 'reg-files.img', id);
      s = rf && rf.name ? String(rf.name) : 'unknown path';
    } else if (type === 'PIPE') {
      const p = this.find('pipe', 'pipes.img', id);
      s = p ? `pipe[${d(p.pipe_id)}]` : 'pipe[?]';
    } else if (type === 'UNIXSK') {
      const ux = this.find('usk', 'unixsk.img', id);
      s = ux ? `unix[${d(ux.ino)} (${d(ux.peer)})${ux.name ? ' ' + String(ux.name) : ''}]` : 'unix[?]';
    } else s = `${type}.${d(id)}`;
    this.cache.set(key, s);
    return s;
  }
}

function tasks(dir: string): Obj[] {
  return load(dir, 'pstree.img');
}

function explorePs(dir: string): string[] {
  interface Item { pid: JsonValue; p: Obj; comm: string; kids: Item[] }
  const items = new Map<string, Item>();
  for (const p of tasks(dir)) {
    const pid = taskId(p, 'pid');
    const core = load(dir, `core-${d(pid)}.img`)[0];
    items.set(d(pid), { pid, p, comm: String(((core.tc as Obj) ?? {}).comm ?? ''), kids: [] });
  }
  let root: Item | undefined;
  for (const it of items.values()) {
    if (int(it.p.ppid) === 0n) {
      root = it;
      continue;
    }
    const parent = items.get(d(it.p.ppid));
    if (!parent) throw new UsageError(`${dir}: pstree.img: task ${d(it.pid)} has parent ${d(it.p.ppid)}, which is not in the tree`);
    parent.kids.push(it);
  }
  const out = [`${lpad('PID', 7)}${lpad('PGID', 7)}${lpad('SID', 7)}   COMM`];
  const show = (it: Item, depth: number): void => {
    out.push(`${lpad(d(it.pid), 7)}${lpad(d(taskId(it.p, 'pgid')), 7)}${lpad(d(taskId(it.p, 'sid')), 7)}   ${' '.repeat(4 * depth)}${it.comm}`);
    for (const k of it.kids) show(k, depth + 1);
  };
  if (root) show(root, 0);
  return out;
}

function exploreFds(dir: string): string[] {
  const names = new FileNames(dir);
  const out: string[] = [];
  for (const p of tasks(dir)) {
    const pid = d(taskId(p, 'pid'));
    const ids = load(dir, `ids-${pid}.img`)[0];
    const fds = load(dir, `fdinfo-${d(ids.files_id)}.img`);
    out.push(pid);
    for (const fd of fds) out.push(`\t${lpad(d(fd.fd), 7)}: ${names.get(String(fd.type), fd.id)}`);
    const fs = load(dir, `fs-${pid}.img`)[0];
    out.push(`\t${lpad('cwd', 7)}: ${names.get('REG', fs.cwd_id)}`);
    out.push(`\t${lpad('root', 7)}: ${names.get('REG', fs.root_id)}`);
  }
  return out;
}

function exploreMems(dir: string): string[] {
  const names = new FileNames(dir);
  const vids = new Map<string, number>();
  const vid = (v: JsonValue): string => {
    const k = d(v);
    if (!vids.has(k)) vids.set(k, vids.size + 1);
    return (vids.get(k) as number).toString(16);
  };
  const out: string[] = [];
  for (const p of tasks(dir)) {
    const pid = d(taskId(p, 'pid'));
    const mm = load(dir, `mm-${pid}.img`)[0];
    out.push(pid);
    out.push(`\t${rpad('exe', 36)}    ${names.get('REG', mm.exe_file_id)}`);
    for (const vma of (mm.vmas as Obj[] | undefined) ?? []) {
      const st = int(vma.status);
      const bit = (n: number): boolean => (st & (1n << BigInt(n))) !== 0n;
      let fn: string;
      if (bit(10)) fn = ` ips[${vid(vma.shmid)}]`;
      else if (bit(8)) fn = ` shmem[${vid(vma.shmid)}]`;
      else if (bit(11)) fn = ` packet[${vid(vma.shmid)}]`;
      else if (bit(6) || bit(7)) {
        fn = ' ' + names.get('REG', vma.shmid);
        if (int(vma.pgoff)) fn += ` + 0x${x(vma.pgoff)}`;
        if (bit(7)) fn += ' (s)';
      } else if (bit(1)) fn = ' [stack]';
      else if (bit(2)) fn = ' [vsyscall]';
      else if (bit(3)) fn = ' [vdso]';
      else if (int(vma.flags) & 0x100n) fn = ' [stack?]';
      else fn = '';
      if (!bit(0)) fn += ' *';
      const prot = int(vma.prot);
      const ps = (prot & 1n ? 'r' : '-') + (prot & 2n ? 'w' : '-') + (prot & 4n ? 'x' : '-');
      const astr = `${x(vma.start).padStart(8, '0')}-${x(vma.end).padStart(8, '0')}`;
      out.push(`\t${rpad(astr, 36)}${ps}${fn}`);
    }
  }
  return out;
}

function exploreRss(dir: string): string[] {
  const names = new FileNames(dir);
  const out: string[] = [];
  for (const p of tasks(dir)) {
    const pid = d(taskId(p, 'pid'));
    const vmas = (load(dir, `mm-${pid}.img`)[0].vmas as Obj[] | undefined) ?? [];
    const pms = load(dir, `pagemap-${pid}.img`);
    out.push(pid);
    let vmi = 0;
    let pvmi = -1;
    // crit indexes with Python semantics: vmas[-1] is the last one.
    const vma = (i: number): Obj => vmas[i < 0 ? vmas.length + i : i];
    for (const pm of pms.slice(1)) {
      const pstr = `\t${x(pm.vaddr)} / ${rpad(d(pm.nr_pages), 8)}`;
      while (vmi < vmas.length && int(vma(vmi).end) <= int(pm.vaddr)) vmi++;
      const pme = int(pm.vaddr) + (int(pm.nr_pages) << 12n);
      let vstr = '';
      while (vmi < vmas.length && int(vma(vmi).start) < pme) {
        const v = vma(vmi);
        if (vmi === pvmi) vstr += ' ~';
        else {
          vstr += ` ${x(v.start).padStart(8, '0')} / ${rpad(((int(v.end) - int(v.start)) >> 12n).toString(), 8)}`;
          if (int(v.status) & ((1n << 6n) | (1n << 7n))) vstr += ' ' + names.get('REG', v.shmid);
          pvmi = vmi;
        }
        vstr += '\n\t' + ' '.repeat(23);
        vmi++;
      }
      vmi--;
      out.push(rpad(pstr, 24) + vstr);
    }
  }
  return out;
}

const explorers: Record<string, (dir: string) => string[]> = {
  ps: explorePs,
  fds: exploreFds,
  mems: exploreMems,
  rss: exploreRss,
};

export const exploreCommand: Command = {
  ...specs.explore,
  run(args) {
    if (args.length !== 2 || !(args[1] in explorers)) {
      throw new UsageError(`expected DIR and one of ${Object.keys(explorers).join(', ')}`);
    }
    process.stdout.write(explorers[args[1]](args[0]).map((l) => l + '\n').join(''));
    return 0;
  },
};
