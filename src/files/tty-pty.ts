// Unix98 pty device numbers, and where tty structs and queued bytes are staged in a task.
import { major, minor } from '../shared/dev-numbers.js';

const TTYAUX_MAJOR = 5;
const PTMX_MINOR = 2;
const PTS_MAJOR_FIRST = 136;
const PTS_MAJOR_LAST = 143;
export const SIGTTOU = 22;
/** CRIU's limit on the bytes read from one end of a pair. */
export const DATA_LIMIT = 16384;
/** Where tty structs and data are staged in the scratch area. */
export const AT_STRUCT = 4096;
export const AT_DATA = 8192;
export const DATA_CHUNK = 8192;

export const isPtmx = (rdev: bigint) => major(rdev) === TTYAUX_MAJOR && minor(rdev) === PTMX_MINOR;
export const isPts = (rdev: bigint) => major(rdev) >= PTS_MAJOR_FIRST && major(rdev) <= PTS_MAJOR_LAST;
export const ptsIndex = (rdev: bigint) => (major(rdev) - PTS_MAJOR_FIRST) * 256 + minor(rdev);
/** /proc/PID/stat's tty_nr of a device (the kernel's new_encode_dev). */
export const encodeDev = (rdev: bigint) => (minor(rdev) & 0xff) | (major(rdev) << 8) | ((minor(rdev) & ~0xff) << 12);
