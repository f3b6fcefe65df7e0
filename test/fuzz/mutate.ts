// Structure-aware mutations of a dump's image directory for the restore fuzzer (issue 15): each
// decodes an image with cryo's codec, changes one thing to a hostile value of the right type
// (so the framing stays valid and the parsers, not the framing check, meet it) and encodes it
// again; a few work on raw bytes or on whole files. Pure but for the files of `dir`.

import { copyFileSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { decodeImage, encodeImage } from '../../src/images/index.js';
import type { Image } from '../../src/images/image.js';
import type { FieldDef, MessageDef } from '../../src/images/schema.js';
import type { FieldValue, MessageValue } from '../../src/images/value.js';

export class Dice {
  constructor(readonly next: () => number) {}
  int(n: number): number { return Math.floor(this.next() * n); }
  pick<T>(xs: readonly T[]): T { return xs[this.int(xs.length)]!; }
  chance(p: number): boolean { return this.next() < p; }
}

/** What the hostile values may name: places inside the fuzzer's scratch root only. */
export interface Hostile {
  /** The dumped program's directory (where the dump's files are). */
  dir: string;
  /** A directory outside every place the dump named; nothing may change in it. */
  outside: string;
  /** A symbolic link in `dir` to `outside`, made after the dump. */
  link: string;
  /** PIDs of processes running now (this one, init, a sleeper). */
  livePids: number[];
}

/** A field's place: set(v) writes it, del() removes it (optional fields and elements). */
interface Leaf {
  def: FieldDef;
  value: FieldValue;
  set(v: FieldValue): void;
  del(): void;
}

/** A deep copy that keeps Buffers Buffers (structuredClone makes them Uint8Arrays). */
function cloneValue(v: FieldValue): FieldValue {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (Array.isArray(v)) return v.map(cloneValue);
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneValue(x)]));
  return v;
}

const isMessageType = (t: FieldDef['type']): t is () => MessageDef => typeof t === 'function';

/** Every field (and element of a repeated field) of `msg`, nested ones too. */
function leaves(msg: MessageValue, def: MessageDef, out: Leaf[] = []): Leaf[] {
  for (const f of def.fields) {
    const v = msg[f.name];
    if (v === undefined) continue;
    if (f.label === 'repeated' && Array.isArray(v)) {
      out.push({ def: f, value: v, set: (x) => { msg[f.name] = x; }, del: () => { delete msg[f.name]; } });
      v.forEach((el, i) => {
        out.push({ def: f, value: el, set: (x) => { v[i] = x; }, del: () => { v.splice(i, 1); } });
        if (isMessageType(f.type)) leaves(el as MessageValue, f.type(), out);
      });
    } else {
      out.push({ def: f, value: v, set: (x) => { msg[f.name] = x; }, del: () => { delete msg[f.name]; } });
      if (isMessageType(f.type)) leaves(v as MessageValue, f.type(), out);
    }
  }
  return out;
}

const U32 = [0, 1, 2, 3, 4095, 4096, 4097, 0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe, 65536];
const I32 = [0, 1, -1, 3, 0x7fffffff, -0x80000000, 4096];
const U64 = [0n, 1n, 4095n, 4096n, 4097n, 0xffffffffffffffffn, 0x8000000000000000n, 0x7fffffffffffn, 0x7ffffffff000n,
  0xfffffffffffff000n, 0x100000000n, 1n << 40n, 0xffff800000000000n];
const I64 = [0n, 1n, -1n, 0x7fffffffffffffffn, -0x8000000000000000n, 4096n, -4096n];

/** A hostile value of the type of `def`, drawn from absurd constants and the values `pool` saw. */
function hostileScalar(d: Dice, def: FieldDef, old: FieldValue, pool: Pool, h: Hostile): FieldValue | undefined {
  const t = def.type;
  if (isMessageType(t)) return undefined;
  if (typeof t === 'object') { // an enum: another of its names
    return d.pick(Object.keys(t.values));
  }
  switch (t) {
    case 'bool': return !old;
    case 'uint32': case 'fixed32':
      return d.chance(0.3) ? d.pick(pool.u32) : d.chance(0.2) ? d.pick(h.livePids) : d.chance(0.2) ? ((old as number) + d.pick([1, -1, 4096, -4096])) >>> 0 : d.pick(U32);
    case 'int32': case 'sint32': case 'sfixed32':
      return d.chance(0.3) ? d.pick(pool.u32) | 0 : d.chance(0.2) ? d.pick(h.livePids) : d.pick(I32);
    case 'uint64': case 'fixed64': {
      if (d.chance(0.35)) return d.pick(pool.u64);
      if (d.chance(0.25)) return BigInt.asUintN(64, (old as bigint) + d.pick([1n, -1n, 4096n, -4096n, 1n << 30n, -(1n << 30n)]));
      return d.pick(U64);
    }
    case 'int64': case 'sint64': case 'sfixed64':
      return d.chance(0.3) ? BigInt.asIntN(64, d.pick(pool.u64)) : d.pick(I64);
    case 'string': return hostileName(d, String(old), pool, h);
    case 'bytes': {
      const o = old as Buffer;
      return d.pick([
        () => Buffer.alloc(0),
        () => o.subarray(0, d.int(o.length + 1)),
        () => Buffer.concat([o, o]),
        () => Buffer.alloc(d.pick([1, 7, 64, 4097, 1 << 16]), d.int(256)),
        () => Buffer.from(`${hostileName(d, o.toString('latin1').replace(/\0.*$/s, ''), pool, h)}\0`),
      ])();
    }
    default: return undefined;
  }
}

/** Paths that escape the dump's places, go through a planted link, are relative, or are absurd strings. */
function hostileName(d: Dice, old: string, pool: Pool, h: Hostile): string {
  const base = path.basename(old) || 'x';
  return d.pick([
    () => path.join(h.dir, '..', path.basename(h.outside), base),
    () => `${h.dir}/../${path.basename(h.outside)}/${base}`,
    () => path.join(h.link, base),
    () => `${h.link}/../${base}`,
    () => path.join(h.outside, base),
    () => h.outside,
    () => base,
    () => `../../${base}`,
    () => '',
    () => '/',
    () => `${old}\nsecond line`,
    () => `${old}\0tail`,
    () => `${h.dir}/${'a'.repeat(300)}/${'b'.repeat(4000)}`,
    () => d.pick(pool.strings),
    () => `/proc/${d.pick(h.livePids)}/${d.pick(['mem', 'environ', 'fd/0', 'root'])}`,
  ])();
}

/** Values the directory holds, so mutations can make fields point at each other. */
interface Pool { u32: number[]; u64: bigint[]; strings: string[] }

function poolOf(images: Map<string, Image>): Pool {
  const pool: Pool = { u32: [], u64: [], strings: [] };
  for (const img of images.values()) {
    for (const e of img.entries) {
      for (const l of leaves(e.value, e.def)) {
        if (typeof l.value === 'number') pool.u32.push(l.value >>> 0);
        else if (typeof l.value === 'bigint') pool.u64.push(BigInt.asUintN(64, l.value));
        else if (typeof l.value === 'string' && l.value.length > 0) pool.strings.push(l.value);
      }
    }
  }
  if (pool.u32.length === 0) pool.u32.push(0);
  if (pool.u64.length === 0) pool.u64.push(0n);
  if (pool.strings.length === 0) pool.strings.push('/');
  return pool;
}

/** One mutation: changes `images` (decoded) or the files of `dir`; returns what it did, or undefined if it found nothing to do. */
type Mutation = (d: Dice, ctx: Ctx) => string | undefined;

interface Ctx {
  dir: string;
  images: Map<string, Image>;
  pool: Pool;
  h: Hostile;
}

const decodable = (name: string) => name.endsWith('.img') && !name.startsWith('pages-') && name !== 'cryo-manifest.img';

function pickLeaf(d: Dice, ctx: Ctx, filter: (l: Leaf) => boolean = () => true): { file: string; leaf: Leaf } | undefined {
  const files = [...ctx.images.keys()].filter((f) => ctx.images.get(f)!.entries.length > 0);
  for (let tries = 0; tries < 8 && files.length > 0; tries++) {
    const file = d.pick(files);
    const all = ctx.images.get(file)!.entries.flatMap((e) => leaves(e.value, e.def)).filter(filter);
    if (all.length > 0) return { file, leaf: d.pick(all) };
  }
  return undefined;
}

const show = (v: FieldValue): string => {
  if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
  if (Array.isArray(v)) return `[${v.length} items]`;
  if (typeof v === 'object') return '{...}';
  const s = typeof v === 'bigint' ? `0x${v.toString(16)}` : JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
};

const ID_FIELD = /(^id$|_id$|^shmid$|^fd$|^peer$|^ino$|^pipe_id$)/;
const PID_FIELD = /^(pid|ppid|pgid|sid|tid|threads|real_pid|owner_pid|pid_reuse)$/;

const mutations: [number, Mutation][] = [
  // A scalar of any field set to an absurd value of its type.
  [30, (d, ctx) => {
    const p = pickLeaf(d, ctx, (l) => !Array.isArray(l.value) && !isMessageType(l.def.type));
    if (!p) return undefined;
    const v = hostileScalar(d, p.leaf.def, p.leaf.value, ctx.pool, ctx.h);
    if (v === undefined) return undefined;
    p.leaf.set(v);
    return `${p.file}: ${p.leaf.def.name} ${show(p.leaf.value)} -> ${show(v)}`;
  }],
  // A path (string or socket name) escaping the dump's places.
  [12, (d, ctx) => {
    const p = pickLeaf(d, ctx, (l) => (l.def.type === 'string' || (l.def.type === 'bytes' && l.def.name === 'name')) && !Array.isArray(l.value));
    if (!p) return undefined;
    const old = p.leaf.def.type === 'string' ? String(p.leaf.value) : (p.leaf.value as Buffer).toString('latin1').replace(/\0.*$/s, '');
    const name = hostileName(d, old, ctx.pool, ctx.h);
    p.leaf.set(p.leaf.def.type === 'string' ? name : Buffer.from(`${name}\0`));
    return `${p.file}: ${p.leaf.def.name} ${JSON.stringify(old)} -> ${JSON.stringify(name)}`;
  }],
  // An id pointing at another id of the dump (file ids that point at each other).
  [10, (d, ctx) => {
    const p = pickLeaf(d, ctx, (l) => ID_FIELD.test(l.def.name) && (typeof l.value === 'number' || typeof l.value === 'bigint'));
    if (!p) return undefined;
    const v = typeof p.leaf.value === 'number' ? d.pick(ctx.pool.u32) : d.pick(ctx.pool.u64);
    p.leaf.set(v);
    return `${p.file}: ${p.leaf.def.name} ${show(p.leaf.value)} -> ${show(v)} (another id)`;
  }],
  // A PID of a process running now.
  [8, (d, ctx) => {
    const p = pickLeaf(d, ctx, (l) => PID_FIELD.test(l.def.name) && typeof l.value === 'number');
    if (!p) return undefined;
    const v = d.pick(ctx.h.livePids);
    p.leaf.set(v);
    return `${p.file}: ${p.leaf.def.name} ${show(p.leaf.value)} -> ${v} (running)`;
  }],
  // Repeated fields: duplicated, dropped, emptied, reversed or made huge.
  [12, (d, ctx) => {
    const p = pickLeaf(d, ctx, (l) => Array.isArray(l.value) && l.value.length > 0);
    if (!p) return undefined;
    const xs = p.leaf.value as FieldValue[];
    const how = d.pick(['duplicate', 'drop', 'empty', 'reverse', 'huge'] as const);
    if (how === 'duplicate') { const i = d.int(xs.length); xs.splice(i, 0, cloneValue(xs[i]!)); }
    if (how === 'drop') xs.splice(d.int(xs.length), 1);
    if (how === 'empty') xs.length = 0;
    if (how === 'reverse') xs.reverse();
    if (how === 'huge') { const n = d.pick([1000, 20000]); const x = xs[d.int(xs.length)]!; for (let i = 0; i < n; i++) xs.push(cloneValue(x)); }
    return `${p.file}: ${p.leaf.def.name} ${how}`;
  }],
  // An optional field or a nested message removed.
  [6, (d, ctx) => {
    const p = pickLeaf(d, ctx, (l) => l.def.label !== 'repeated' || !Array.isArray(l.value));
    if (!p) return undefined;
    p.leaf.del();
    return `${p.file}: ${p.leaf.def.name} removed`;
  }],
  // Overlapping mappings: a VMA's bounds set to another's.
  [6, (d, ctx) => {
    const mm = [...ctx.images.entries()].find(([f]) => /^mm-\d+\.img$/.test(f));
    const vmas = mm?.[1].entries[0]?.value.vmas as MessageValue[] | undefined;
    if (!mm || !vmas || vmas.length < 2) return undefined;
    const i = d.int(vmas.length), j = d.int(vmas.length);
    const field = d.pick(['start', 'end'] as const);
    const other = d.pick(['start', 'end'] as const);
    vmas[i]![field] = vmas[j]![other]!;
    return `${mm[0]}: vma ${i} ${field} = vma ${j} ${other}`;
  }],
  // Entries duplicated, dropped or swapped.
  [8, (d, ctx) => {
    const files = [...ctx.images.keys()].filter((f) => ctx.images.get(f)!.entries.length > 0);
    if (files.length === 0) return undefined;
    const file = d.pick(files);
    const es = ctx.images.get(file)!.entries;
    const how = d.pick(['duplicate', 'drop', 'swap'] as const);
    const i = d.int(es.length);
    if (how === 'duplicate') es.splice(i, 0, { ...es[i]!, value: cloneValue(es[i]!.value) as MessageValue });
    if (how === 'drop') es.splice(i, 1);
    if (how === 'swap') { const j = d.int(es.length); [es[i], es[j]] = [es[j]!, es[i]!]; }
    return `${file}: entry ${i} ${how}`;
  }],
  // Raw bytes: the file cut short, a byte flipped, or garbage appended.
  [5, (d, ctx) => {
    const files = readdirSync(ctx.dir).filter((f) => f.endsWith('.img') && f !== 'cryo-manifest.img');
    const file = d.pick(files);
    const p = path.join(ctx.dir, file);
    ctx.images.delete(file); // written as changed here, not encoded again
    const size = statSync(p).size;
    const how = d.pick(['cut', 'flip', 'append'] as const);
    if (how === 'cut') truncateSync(p, d.int(size));
    if (how === 'flip' && size > 0) { const b = readFileSync(p); const at = d.int(size); b[at]! ^= 1 << d.int(8); writeFileSync(p, b); }
    if (how === 'append') writeFileSync(p, Buffer.alloc(1 + d.int(64), d.int(256)), { flag: 'a' });
    return `${file}: raw ${how}`;
  }],
  // Whole files: one removed, or copied over another.
  [3, (d, ctx) => {
    const files = readdirSync(ctx.dir).filter((f) => f.endsWith('.img') && f !== 'cryo-manifest.img');
    const a = d.pick(files), b = d.pick(files);
    ctx.images.delete(a); ctx.images.delete(b);
    if (d.chance(0.5)) { rmSync(path.join(ctx.dir, a)); return `${a}: removed`; }
    copyFileSync(path.join(ctx.dir, a), path.join(ctx.dir, b));
    return `${b}: replaced by ${a}`;
  }],
];

const totalWeight = mutations.reduce((s, [w]) => s + w, 0);

function pickMutation(d: Dice): Mutation {
  let x = d.next() * totalWeight;
  for (const [w, m] of mutations) if ((x -= w) < 0) return m;
  return mutations[0]![1];
}

/** Every name the images hold: each string, and each bytes value up to its first NUL. */
function namesOf(images: Map<string, Image>): Set<string> {
  const out = new Set<string>();
  for (const img of images.values()) {
    for (const e of img.entries) {
      for (const l of leaves(e.value, e.def)) {
        if (typeof l.value === 'string') out.add(l.value);
        else if (Buffer.isBuffer(l.value) && l.value.length < 4096) out.add(l.value.toString('latin1').replace(/\0.*$/s, ''));
      }
    }
  }
  out.delete('');
  return out;
}

/**
 * Applies 1-3 mutations to the image directory `dir` (a copy: it is changed in place); returns
 * what each did and the names the mutated images hold. Images that cryo's encoder cannot take
 * after a mutation are left as they were.
 */
export function mutateDir(dir: string, d: Dice, h: Hostile): { mutations: string[]; names: Set<string> } {
  const images = new Map<string, Image>();
  for (const f of readdirSync(dir).filter(decodable)) {
    try { images.set(f, decodeImage(readFileSync(path.join(dir, f)), f)); } catch { /* left as it is */ }
  }
  const ctx: Ctx = { dir, images, pool: poolOf(images), h };
  const before = new Map([...images].map(([f, img]) => [f, encodeImage(img)]));
  const done: string[] = [];
  const n = 1 + d.int(3);
  for (let tries = 0; done.length < n && tries < 20; tries++) {
    const what = pickMutation(d)(d, ctx);
    if (what !== undefined) done.push(what);
  }
  for (const [f, img] of images) {
    let buf: Buffer;
    try { buf = encodeImage(img); } catch (e) {
      done.push(`${f}: not encodable (${(e as Error).message.split('\n')[0]}), left as dumped`);
      images.set(f, decodeImage(before.get(f)!, f));
      continue;
    }
    if (!buf.equals(before.get(f)!)) writeFileSync(path.join(dir, f), buf);
  }
  return { mutations: done, names: namesOf(images) };
}
