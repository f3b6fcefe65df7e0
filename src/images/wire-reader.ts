// The byte reader of the proto2 wire decoder (wire.ts): varints, lengths and fixed fields within
// one message's bounds, each failure an ImageError at its offset in the file.
import { ImageError } from './errors.js';

export class Reader {
  pos: number;
  constructor(readonly buf: Buffer, start: number, public end: number, readonly file: string, readonly base: number) {
    this.pos = start;
  }

  fail(expected: string, at = this.pos): never {
    throw new ImageError(this.file, this.base + at, expected);
  }

  /** The high half of the last varint read. */
  hi = 0;

  /** A varint as two unsigned 32-bit halves: the low one returned, the high one in `hi` (no array per call: images hold thousands). */
  varint(): number {
    const start = this.pos;
    if (start < this.end) {
      const b = this.buf[start]!;
      if (b < 0x80) {
        this.pos = start + 1;
        this.hi = 0;
        return b;
      }
    }
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('the rest of a varint (truncated)', start);
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if ((b & 0x80) === 0) {
        if (i === 9 && b > 1) this.fail('a varint of at most 64 bits', start);
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    return this.fail('a varint of at most 10 bytes', start);
  }

  length(what: string): number {
    const at = this.pos;
    const lo = this.varint();
    const hi = this.hi;
    if (hi !== 0 || lo > this.end - this.pos) {
      this.fail(`a length within the ${this.end - this.pos} remaining bytes for ${what}, not ${hi ? 'a 64-bit length' : lo}`, at);
    }
    return lo;
  }

  fixed(n: 4 | 8, what: string): number {
    if (this.end - this.pos < n) this.fail(`${n} bytes for ${what}`);
    const p = this.pos;
    this.pos += n;
    return p;
  }
}
