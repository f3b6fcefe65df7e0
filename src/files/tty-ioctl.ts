// The tty ioctls the TTY kind uses and the kernel's struct termios / struct winsize as CRIU's
// termios_entry / winsize_entry. Numbers and layout are asm-generic's (x86_64, aarch64, s390x);
// ppc64 has its own (see the report of issue 4: not done there yet).
import type { MessageValue } from '../images/value.js';
import { num } from './constants.js';

export const TCGETS = 0x5401;
export const TCSETS = 0x5402;
export const TIOCEXCL = 0x540c;
export const TIOCSCTTY = 0x540e;
export const TIOCGPGRP = 0x540f;
export const TIOCSPGRP = 0x5410;
export const TIOCGWINSZ = 0x5413;
export const TIOCSWINSZ = 0x5414;
export const FIONREAD = 0x541b;
export const TIOCPKT = 0x5420;
export const TIOCGSID = 0x5429;
export const TIOCGLCKTRMIOS = 0x5456;
export const TIOCSLCKTRMIOS = 0x5457;
export const TIOCGPTN = 0x80045430;
export const TIOCSPTLCK = 0x40045431;
export const TIOCGPKT = 0x80045438;
export const TIOCGPTLCK = 0x80045439;
export const TIOCGEXCL = 0x80045440;

/** struct termios as TCGETS fills it: 4 flag words, c_line, c_cc[NCCS]. */
export const NCCS = 19;
export const TERMIOS_SIZE = 16 + 1 + NCCS;
export const WINSIZE_SIZE = 8;

/** termios_entry of a kernel struct termios (speeds stay 0, as CRIU's TCGETS leaves them). */
export function termiosEntry(b: Buffer): MessageValue {
  return {
    c_iflag: b.readUInt32LE(0), c_oflag: b.readUInt32LE(4), c_cflag: b.readUInt32LE(8), c_lflag: b.readUInt32LE(12),
    c_line: b[16]!, c_ispeed: 0, c_ospeed: 0, c_cc: [...b.subarray(17, 17 + NCCS)],
  };
}

export function termiosBytes(t: MessageValue): Buffer {
  const b = Buffer.alloc(TERMIOS_SIZE);
  b.writeUInt32LE(num(t.c_iflag) >>> 0, 0);
  b.writeUInt32LE(num(t.c_oflag) >>> 0, 4);
  b.writeUInt32LE(num(t.c_cflag) >>> 0, 8);
  b.writeUInt32LE(num(t.c_lflag) >>> 0, 12);
  b[16] = num(t.c_line) & 0xff;
  ((t.c_cc as unknown[] | undefined) ?? []).slice(0, NCCS).forEach((v, i) => { b[17 + i] = num(v) & 0xff; });
  return b;
}

export function winsizeEntry(b: Buffer): MessageValue {
  return { ws_row: b.readUInt16LE(0), ws_col: b.readUInt16LE(2), ws_xpixel: b.readUInt16LE(4), ws_ypixel: b.readUInt16LE(6) };
}

export function winsizeBytes(w: MessageValue): Buffer {
  const b = Buffer.alloc(WINSIZE_SIZE);
  b.writeUInt16LE(num(w.ws_row) & 0xffff, 0);
  b.writeUInt16LE(num(w.ws_col) & 0xffff, 2);
  b.writeUInt16LE(num(w.ws_xpixel) & 0xffff, 4);
  b.writeUInt16LE(num(w.ws_ypixel) & 0xffff, 6);
  return b;
}
