// JSON text exactly as Python's json module writes it (crit prints with
// json.dump), and a reader that keeps integers beyond 2^53 as bigint.

import { ImageJsonError } from './errors.js';

export type JsonValue = null | boolean | number | bigint | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/** Python's json string escaping with ensure_ascii=True. */
export function pyJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) {
      out += s[i];
      continue;
    }
    switch (c) {
      case 0x22: out += '\\"'; break;
      case 0x5c: out += '\\\\'; break;
      case 0x0a: out += '\\n'; break;
      case 0x0d: out += '\\r'; break;
      case 0x09: out += '\\t'; break;
      case 0x08: out += '\\b'; break;
      case 0x0c: out += '\\f'; break;
      default: out += '\\u' + c.toString(16).padStart(4, '0');
    }
  }
  return out + '"';
}

function scalarText(v: JsonValue): string | undefined {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return Object.is(v, -0) ? '-0.0' : String(v);
    if (Number.isNaN(v)) return 'NaN';
    if (!Number.isFinite(v)) return v > 0 ? 'Infinity' : '-Infinity';
    return String(v);
  }
  if (typeof v === 'string') return pyJsonString(v);
  return undefined;
}

/** json.dumps(v) (indent undefined) or json.dumps(v, indent=N). */
export function pyJsonDumps(v: JsonValue, indent?: number): string {
  const parts: string[] = [];
  const write = (x: JsonValue, level: number): void => {
    const s = scalarText(x);
    if (s !== undefined) {
      parts.push(s);
      return;
    }
    const isArr = Array.isArray(x);
    const items: [string | null, JsonValue][] = isArr
      ? (x as JsonValue[]).map((e) => [null, e])
      : Object.entries(x as JsonObject);
    const [open, close] = isArr ? ['[', ']'] : ['{', '}'];
    if (items.length === 0) {
      parts.push(open + close);
      return;
    }
    parts.push(open);
    const nl = indent === undefined ? '' : '\n' + ' '.repeat(indent * (level + 1));
    const sep = indent === undefined ? ', ' : ',';
    items.forEach(([k, e], i) => {
      parts.push(i === 0 ? nl : sep + nl);
      if (k !== null) parts.push(pyJsonString(k) + ': ');
      write(e, level + 1);
    });
    if (indent !== undefined) parts.push('\n' + ' '.repeat(indent * level));
    parts.push(close);
  };
  write(v, 0);
  return parts.join('');
}

/** Parse JSON text; integers outside the safe range come back as bigint. */
export function parseJson(text: string, file = '<json>'): JsonValue {
  let pos = 0;
  const fail = (what: string): never => {
    let line = 1;
    let col = 1;
    for (let i = 0; i < pos && i < text.length; i++) {
      if (text[i] === '\n') { line++; col = 1; } else col++;
    }
    throw new ImageJsonError(file, `line ${line} column ${col}`, `expected ${what}`);
  };
  const ws = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const str = (): string => {
    pos++; // opening quote
    let out = '';
    for (;;) {
      if (pos >= text.length) fail('the end of a string');
      const c = text[pos++];
      if (c === '"') return out;
      if (c === '\\') {
        const e = text[pos++];
        switch (e) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': {
            const h = text.slice(pos, pos + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(h)) fail('4 hex digits after \\u');
            out += String.fromCharCode(parseInt(h, 16));
            pos += 4;
            break;
          }
          default: pos--; fail('a valid escape');
        }
      } else if (c.charCodeAt(0) < 0x20) {
        pos--;
        fail('no control character inside a string');
      } else out += c;
    }
  };
  const num = (): number | bigint => {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(pos, pos + 400));
    if (!m) return fail('a value');
    pos += m[0].length;
    if (m[2] === undefined && m[3] === undefined) {
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    return Number(m[0]);
  };
  const value = (depth: number): JsonValue => {
    if (depth > 1000) fail('less deeply nested JSON');
    ws();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const o: JsonObject = {};
      ws();
      if (text[pos] === '}') { pos++; return o; }
      for (;;) {
        ws();
        if (text[pos] !== '"') fail('a string key');
        const k = str();
        ws();
        if (text[pos++] !== ':') { pos--; fail("':'"); }
        Object.defineProperty(o, k, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        const d = text[pos++];
        if (d === '}') return o;
        if (d !== ',') { pos--; fail("',' or '}'"); }
      }
    }
    if (c === '[') {
      pos++;
      const a: JsonValue[] = [];
      ws();
      if (text[pos] === ']') { pos++; return a; }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        const d = text[pos++];
        if (d === ']') return a;
        if (d !== ',') { pos--; fail("',' or ']'"); }
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', pos)) { pos += 4; return true; }
    if (text.startsWith('false', pos)) { pos += 5; return false; }
    if (text.startsWith('null', pos)) { pos += 4; return null; }
    return num();
  };
  const v = value(0);
  ws();
  if (pos < text.length) fail('the end of the document');
  return v;
}
