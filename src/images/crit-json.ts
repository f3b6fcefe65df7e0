// crit's JSON form of a message (pb2dict/dict2pb semantics): plain, or pretty
// with hex numbers (inherited by nested messages), symbolic flags, dev_t as
// "major:minor", dictionary names, IP addresses, enums by name, bytes as
// Python's base64.encodebytes text.

import { ImageJsonError } from './errors.js';
import { dictGroups, flagTables } from './flags.js';
import type { JsonObject, JsonValue } from './json-text.js';
import { decodeBytesPy, encodeBytesPy, quopriDecode, quopriEncode } from './pybytes.js';
import { type FieldDef, type MessageDef, type ScalarType, isEnumType, isMessageType } from './schema.js';
import type { FieldValue, MessageValue } from './value.js';

const INT_TYPES = new Set<string>([
  'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64',
]);
const is64 = (t: ScalarType): boolean => t.endsWith('64') && t !== 'double';

const hexStr = (v: bigint): string => (v < 0n ? '-0x' + (-v).toString(16) : '0x' + v.toString(16));
const bswap32 = (v: number): number =>
  (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;

function mapFlags(value: bigint, table: readonly (readonly [string, number])[]): string {
  const names: string[] = [];
  let all = 0n;
  for (const [name, bit] of table) {
    const b = BigInt(bit);
    if (value & b) names.push(name);
    all += b;
  }
  const rest = value & ~all;
  if (rest) names.push(hexStr(rest));
  return names.join(' | ');
}

function decodeDev(f: FieldDef, v: bigint): string {
  if (f.opts.odev) {
    const d = BigInt.asUintN(64, v);
    const major = ((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn);
    const minor = (d & 0xffn) | ((d >> 12n) & ~0xffn);
    return `${major}:${minor}`;
  }
  return `${v >> 20n}:${v & ((1n << 20n) - 1n)}`;
}

function ipText(words: number[]): string {
  if (words.length === 1) {
    const v = bswap32(words[0]);
    return [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff].join('.');
  }
  const hextets: string[] = [];
  for (let i = 0; i < 4; i++) {
    const v = bswap32(words[i]);
    hextets.push((v >>> 16).toString(16), (v & 0xffff).toString(16));
  }
  // Python's ipaddress: the longest run (first if tied) of 2+ zero hextets becomes '::'.
  let bestStart = -1, bestLen = 0, start = -1, len = 0;
  hextets.forEach((h, i) => {
    if (h === '0') {
      len++;
      if (start === -1) start = i;
      if (len > bestLen) { bestLen = len; bestStart = start; }
    } else { len = 0; start = -1; }
  });
  if (bestLen > 1) {
    const end = bestStart + bestLen;
    const parts = [...hextets];
    if (end === parts.length) parts.push('');
    parts.splice(bestStart, bestLen, '');
    if (bestStart === 0) parts.unshift('');
    return parts.join(':');
  }
  return hextets.join(':');
}

function toBig(v: FieldValue): bigint {
  return typeof v === 'bigint' ? v : BigInt(v as number);
}

function castOut(f: FieldDef, v: FieldValue, pretty: boolean, isHex: boolean): JsonValue {
  const t = f.type;
  if (isMessageType(t)) return messageToCrit(v as MessageValue, t(), pretty, isHex);
  if (isEnumType(t)) return v as string;
  if (t === 'bytes') {
    const b = v as Buffer;
    return f.opts.conv === 'unix_name' ? quopriEncode(b) : encodeBytesPy(b);
  }
  if (pretty && INT_TYPES.has(t)) {
    const n = toBig(v);
    if (isHex) return hexStr(n);
    if (f.opts.dev || f.opts.odev) return decodeDev(f, n);
    if (f.opts.flags) {
      const table = flagTables[f.opts.flags];
      return table ? mapFlags(n, table) : hexStr(n);
    }
    if (f.opts.dict) {
      const name = dictGroups[f.opts.dict]?.[f.name]?.[Number(n)];
      if (name !== undefined) return name;
    }
  }
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') return v;
  return String(v);
}

/** pb2dict: a decoded message to crit's JSON object. */
export function messageToCrit(value: MessageValue, def: MessageDef, pretty: boolean, inheritedHex = false): JsonObject {
  const out: JsonObject = {};
  for (const f of def.fields) {
    const v = value[f.name];
    if (v === undefined) continue;
    const isHex = inheritedHex || !!f.opts.hex;
    if (f.label === 'repeated') {
      const list = v as FieldValue[];
      if (pretty && f.opts.ipadd && (list.length === 1 || list.length >= 4)) {
        out[f.name] = [ipText(list as number[])];
      } else {
        out[f.name] = list.map((x) => castOut(f, x, pretty, isHex));
      }
    } else {
      out[f.name] = castOut(f, v, pretty, isHex);
    }
  }
  return out;
}

// ------------------------------------------------------------- JSON -> value

/** Python's int(s, 0): decimal without leading zeros, or 0x/0o/0b, underscores between digits. */
export function parsePyInt(s: string): bigint | undefined {
  const m = /^\s*([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?0)*|[1-9](?:_?[0-9])*)\s*$/.exec(s);
  if (!m) return undefined;
  const body = m[2].replace(/_/g, '');
  let v: bigint;
  if (/^0[oO]/.test(body)) v = BigInt('0o' + body.slice(2));
  else v = BigInt(body);
  return m[1] === '-' ? -v : v;
}

function parseIp(s: string): { v4: number } | { v6: bigint } | undefined {
  const v4 = (t: string): number | undefined => {
    const p = t.split('.');
    if (p.length !== 4 || !p.every((x) => /^(0|[1-9][0-9]{0,2})$/.test(x) && Number(x) < 256)) return undefined;
    return p.reduce((a, x) => a * 256 + Number(x), 0);
  };
  const a = v4(s);
  if (a !== undefined) return { v4: a };
  if (!s.includes(':')) return undefined;
  let text = s;
  const lastColon = text.lastIndexOf(':');
  const maybe4 = text.slice(lastColon + 1);
  if (maybe4.includes('.')) {
    const w = v4(maybe4);
    if (w === undefined) return undefined;
    text = text.slice(0, lastColon + 1) + (w >>> 16).toString(16) + ':' + (w & 0xffff).toString(16);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const split = (h: string): string[] => (h === '' ? [] : h.split(':'));
  const head = split(halves[0]);
  const rest = halves.length === 2 ? split(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  if (!all.every((h) => /^[0-9a-fA-F]{1,4}$/.test(h))) return undefined;
  return { v6: all.reduce((acc, h) => (acc << 16n) | BigInt(parseInt(h, 16)), 0n) };
}

function truthy(v: JsonValue): boolean {
  if (v === null || v === false || v === 0 || v === 0n || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

function intIn(f: FieldDef, v: JsonValue, path: string): bigint {
  const fail = (): never => {
    throw new ImageJsonError('<json>', path, `expected an integer for ${f.name}, got ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`);
  };
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? BigInt(Math.trunc(v)) : fail();
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (typeof v !== 'string') return fail();
  if (f.opts.dev || f.opts.odev) {
    const parts = v.split(':').map((x) => parsePyInt(x));
    if (parts.length !== 2 || parts.some((x) => x === undefined)) return fail();
    const [maj, min] = parts as [bigint, bigint];
    if (f.opts.odev) {
      return ((maj & 0xfffff000n) << 32n) | ((maj & 0xfffn) << 8n) | ((min & 0xffffff00n) << 12n) | (min & 0xffn);
    }
    return (maj << 20n) | min;
  }
  if (f.opts.flags && flagTables[f.opts.flags]) {
    if (v === '') return 0n;
    const table = new Map(flagTables[f.opts.flags]);
    let sum = 0n;
    for (const part of v.split('|').map((x) => x.trim())) {
      const bit = table.get(part);
      const n = bit !== undefined ? BigInt(bit) : parsePyInt(part);
      if (n === undefined) return fail();
      sum += n;
    }
    return sum;
  }
  if (f.opts.dict) {
    const names = dictGroups[f.opts.dict]?.[f.name];
    if (names) for (const [num, name] of Object.entries(names)) if (name === v) return BigInt(num);
  }
  return parsePyInt(v) ?? fail();
}

function fitInt(t: ScalarType, n: bigint, path: string): number | bigint {
  const bits = is64(t) ? 64 : 32;
  const signed = t.startsWith('int') || t.startsWith('sint') || t.startsWith('sfixed');
  const lo = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  if (n < lo || n > hi) throw new ImageJsonError('<json>', path, `value ${n} out of range for ${t}`);
  return bits === 64 ? n : Number(n);
}

function castIn(f: FieldDef, v: JsonValue, path: string): FieldValue {
  const t = f.type;
  if (isMessageType(t)) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      throw new ImageJsonError('<json>', path, 'expected an object');
    }
    return messageFromCrit(v, t(), path);
  }
  if (isEnumType(t)) {
    if (typeof v !== 'string' || !(v in t.values)) {
      throw new ImageJsonError('<json>', path, `expected a name from enum ${t.name}, got ${String(v)}`);
    }
    return v;
  }
  if (t === 'bytes') {
    if (typeof v !== 'string') throw new ImageJsonError('<json>', path, 'expected a string of encoded bytes');
    return f.opts.conv === 'unix_name' ? quopriDecode(v) : decodeBytesPy(v, path);
  }
  if (t === 'bool') return truthy(v);
  if (t === 'string') {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'bigint') return String(v);
    throw new ImageJsonError('<json>', path, 'expected a string');
  }
  if (t === 'float' || t === 'double') {
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    throw new ImageJsonError('<json>', path, 'expected a number');
  }
  return fitInt(t, intIn(f, v, path), path);
}

function ipWords(f: FieldDef, s: string, path: string): number[] {
  const ip = parseIp(s);
  if (!ip) throw new ImageJsonError('<json>', path, `expected an IP address for ${f.name}, got ${s}`);
  if ('v4' in ip) return [bswap32(ip.v4)];
  const words: number[] = [];
  for (let i = 3; i >= 0; i--) words.push(bswap32(Number((ip.v6 >> BigInt(32 * i)) & 0xffffffffn)));
  return words;
}

/** dict2pb: crit's JSON object (plain or pretty) to a message value. Unknown keys are ignored, as crit does. */
export function messageFromCrit(obj: JsonObject, def: MessageDef, path: string = def.name): MessageValue {
  const out: MessageValue = {};
  for (const f of def.fields) {
    if (!Object.prototype.hasOwnProperty.call(obj, f.name)) continue;
    const v = obj[f.name];
    const fpath = `${path}.${f.name}`;
    if (f.label === 'repeated') {
      if (!Array.isArray(v)) throw new ImageJsonError('<json>', fpath, 'expected an array');
      if (f.opts.ipadd && typeof v[0] === 'string') {
        out[f.name] = ipWords(f, v[0], fpath);
        continue;
      }
      out[f.name] = v.map((x, i) => castIn(f, x, `${fpath}[${i}]`));
    } else {
      out[f.name] = castIn(f, v, fpath);
    }
  }
  return out;
}
