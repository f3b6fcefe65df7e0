// The tty ioctls the TTY kind uses and the kernel's struct termios / struct winsize as CRIU's
// termios_entry / winsize_entry. The ioctl numbers and the termios layout are the architecture's
// (KernelAbi in src/arch: asm-generic's on x86_64, aarch64 and s390x; ppc64 has its own);
// struct winsize is the same everywhere.
import type { MessageValue } from '../images/value.js';
import { hostKernelAbi } from '../arch/host-abi.js';
import { readU16, readU32, writeU16, writeU32 } from '../sys/native-endian.js';
import { num } from '../shared/constants.js';

const ABI = hostKernelAbi();
const IOC = ABI.ioctls;
const T = ABI.layouts.termios;

export const TCGETS = IOC.TCGETS;
export const TCSETS = IOC.TCSETS;
export const TIOCEXCL = IOC.TIOCEXCL;
export const TIOCSCTTY = IOC.TIOCSCTTY;
export const TIOCGPGRP = IOC.TIOCGPGRP;
export const TIOCSPGRP = IOC.TIOCSPGRP;
export const TIOCGWINSZ = IOC.TIOCGWINSZ;
export const TIOCSWINSZ = IOC.TIOCSWINSZ;
export const FIONREAD = IOC.FIONREAD;
export const TIOCPKT = IOC.TIOCPKT;
export const TIOCGSID = IOC.TIOCGSID;
export const TIOCGLCKTRMIOS = IOC.TIOCGLCKTRMIOS;
export const TIOCSLCKTRMIOS = IOC.TIOCSLCKTRMIOS;
export const TIOCGPTN = IOC.TIOCGPTN;
export const TIOCSPTLCK = IOC.TIOCSPTLCK;
export const TIOCGPKT = IOC.TIOCGPKT;
export const TIOCGPTLCK = IOC.TIOCGPTLCK;
export const TIOCGEXCL = IOC.TIOCGEXCL;

/** struct termios as TCGETS fills it: 4 flag words, c_line, c_cc[NCCS] (in the arch's order). */
export const NCCS = T.nccs;
export const TERMIOS_SIZE = T.size;
export const WINSIZE_SIZE = 8;

/** termios_entry of a kernel struct termios (speeds stay 0, as CRIU's TCGETS leaves them). */
export function termiosEntry(b: Buffer): MessageValue {
  return {
    c_iflag: readU32(b, T.iflag), c_oflag: readU32(b, T.oflag), c_cflag: readU32(b, T.cflag), c_lflag: readU32(b, T.lflag),
    c_line: b[T.line]!, c_ispeed: 0, c_ospeed: 0, c_cc: [...b.subarray(T.cc, T.cc + NCCS)],
  };
}

export function termiosBytes(t: MessageValue): Buffer {
  const b = Buffer.alloc(TERMIOS_SIZE);
  writeU32(b, num(t.c_iflag) >>> 0, T.iflag);
  writeU32(b, num(t.c_oflag) >>> 0, T.oflag);
  writeU32(b, num(t.c_cflag) >>> 0, T.cflag);
  writeU32(b, num(t.c_lflag) >>> 0, T.lflag);
  b[T.line] = num(t.c_line) & 0xff;
  ((t.c_cc as unknown[] | undefined) ?? []).slice(0, NCCS).forEach((v, i) => { b[T.cc + i] = num(v) & 0xff; });
  return b;
}

export function winsizeEntry(b: Buffer): MessageValue {
  return { ws_row: readU16(b, 0), ws_col: readU16(b, 2), ws_xpixel: readU16(b, 4), ws_ypixel: readU16(b, 6) };
}

export function winsizeBytes(w: MessageValue): Buffer {
  const b = Buffer.alloc(WINSIZE_SIZE);
  writeU16(b, num(w.ws_row) & 0xffff, 0);
  writeU16(b, num(w.ws_col) & 0xffff, 2);
  writeU16(b, num(w.ws_xpixel) & 0xffff, 4);
  writeU16(b, num(w.ws_ypixel) & 0xffff, 6);
  return b;
}
