// Python's byte-to-text encodings that crit's JSON uses: base64.encodebytes
// (76-character lines, each ending in '\n') and quopri (binascii.b2a_qp).

import { ImageJsonError } from './errors.js';

export function encodeBytesPy(b: Uint8Array): string {
  const s = Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
  let out = '';
  for (let i = 0; i < s.length; i += 76) out += s.slice(i, i + 76) + '\n';
  return out;
}

/** base64.decodebytes: non-alphabet characters are skipped, as binascii does. */
export function decodeBytesPy(s: string, where = 'bytes'): Buffer {
  const clean = s.replace(/[^A-Za-z0-9+/=]/g, '');
  const body = clean.replace(/=+$/, '');
  if (/=/.test(body) || body.length % 4 === 1) {
    throw new ImageJsonError('<json>', where, 'expected base64 text (as base64.encodebytes writes it)');
  }
  return Buffer.from(body, 'base64');
}

const MAXLINE = 76;
const hex = (c: number): string => '=' + c.toString(16).toUpperCase().padStart(2, '0');

/** quopri.encodestring(data) (binascii.b2a_qp with istext, no header, no quotetabs). */
export function quopriEncode(data: Uint8Array): string {
  const nl = data.indexOf(0x0a);
  const crlf = nl > 0 && data[nl - 1] === 0x0d;
  const out: string[] = [];
  let linelen = 0;
  const n = data.length;
  for (let i = 0; i < n; ) {
    const c = data[i];
    const next = i + 1 < n ? data[i + 1] : -1;
    const mustQuote =
      c > 126 ||
      c === 0x3d ||
      (c === 0x2e && linelen === 0 && (i + 1 === n || next === 0x0a || next === 0x0d || next === 0)) ||
      ((c === 0x09 || c === 0x20) && i + 1 === n) ||
      (c < 33 && c !== 0x0d && c !== 0x0a && c !== 0x09 && c !== 0x20);
    if (mustQuote) {
      if (linelen + 3 >= MAXLINE) {
        out.push(crlf ? '=\r\n' : '=\n');
        linelen = 0;
      }
      out.push(hex(c));
      i++;
      linelen += 3;
    } else if (c === 0x0a || (c === 0x0d && next === 0x0a)) {
      linelen = 0;
      const last = out.length ? out[out.length - 1] : '';
      if (last === ' ' || last === '\t') out[out.length - 1] = hex(last.charCodeAt(0));
      out.push(crlf ? '\r\n' : '\n');
      i += c === 0x0d ? 2 : 1;
    } else {
      if (i + 1 !== n && next !== 0x0a && linelen + 1 >= MAXLINE) {
        out.push(crlf ? '=\r\n' : '=\n');
        linelen = 0;
      }
      linelen++;
      out.push(String.fromCharCode(c));
      i++;
    }
  }
  return out.join('');
}

/** quopri.decodestring (binascii.a2b_qp without header). */
export function quopriDecode(s: string): Buffer {
  const src = Buffer.from(s, 'latin1');
  const out: number[] = [];
  const isHex = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
  for (let i = 0; i < src.length; ) {
    const c = src[i];
    if (c === 0x3d) {
      if (i + 1 >= src.length) break; // a lone '=' at the end is a soft break
      const a = src[i + 1];
      if (a === 0x0a || a === 0x0d) {
        // soft line break
        i += a === 0x0d && src[i + 2] === 0x0a ? 3 : 2;
        continue;
      }
      if (a === 0x3d) { out.push(0x3d); i += 2; continue; }
      const b = i + 2 < src.length ? src[i + 2] : -1;
      if (isHex(a) && isHex(b)) {
        out.push(parseInt(String.fromCharCode(a, b), 16));
        i += 3;
        continue;
      }
      out.push(c);
      i++;
      continue;
    }
    out.push(c);
    i++;
  }
  return Buffer.from(out);
}
