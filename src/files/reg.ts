// Regular files, directories and devices (REG): opened by path, at their offset. A file deleted
// while open is a ghost: the dump saves its content (FileTable), restore recreates it at its old
// path for as long as the task opens it (src/restore/ghost-files.ts).
import { RestoreError } from '../shared/restore-error.js';
import { openImagePath } from '../shared/image-paths.js';
import { major } from '../shared/dev-numbers.js';
import type { FdKind } from './kind.js';
import { O_DIRECTORY, O_NOCTTY, O_NOFOLLOW, O_OPEN_ONLY, O_PATH, SEEK_SET, big, num } from '../shared/constants.js';

/** tty majors (TTY_MAJOR, TTYAUX_MAJOR, UNIX98_PTY_SLAVE_MAJOR..): CRIU's own TTY type, not done here. */
const TTY_MAJORS = new Set([4, 5, 136, 137, 138, 139, 140, 141, 142, 143]);
const TTY_MAJOR = 4n;
const CONSOLE = (5n << 8n) | 1n;

/**
 * Terminals whose state is the machine's, not the task's: virtual consoles and serial lines
 * (TTY_MAJOR) and the console (5:1). Opened again by path they are the same device; ptys and
 * /dev/tty (the session's terminal) are tty.ts's.
 */
function machineTerminal(rdev: bigint): boolean {
  return major(rdev) === Number(TTY_MAJOR) || rdev === CONSOLE;
}

/** open(2) flags an O_PATH open takes; the kernel ignores others there, openat2 refuses them. */
const O_PATH_FLAGS = O_PATH | O_DIRECTORY | O_NOFOLLOW;

/** __O_TMPFILE (the same on every architecture cryo targets): kept in the flags of a file made unnamed by O_TMPFILE. */
const O_TMPFILE_BIT = 0o20000000;

/** The flags to open a dumped file again: O_TMPFILE's (which include O_DIRECTORY) made it, they cannot open it. */
function reopenFlags(flags: number): number {
  if (flags & O_PATH) return flags & O_PATH_FLAGS;
  const made = flags & O_TMPFILE_BIT ? O_TMPFILE_BIT | O_DIRECTORY : 0;
  return (flags & ~O_OPEN_ONLY & ~made) | O_NOCTTY;
}

export const regKind: FdKind = {
  type: 'REG', field: 'reg', name: 'a regular file, directory or device',
  matches: (c) => c.target.kind === 'path' && (c.st.isFile() || c.st.isDirectory() || c.st.isBlockDevice()
    || (c.st.isSymbolicLink() && (c.flags & O_PATH) !== 0)
    || (c.st.isCharacterDevice() && (!TTY_MAJORS.has(major(BigInt(c.st.rdev))) || machineTerminal(BigInt(c.st.rdev))))),
  dump: (c) => c.table.regEntry(c.id, c.procFd, (c.target as { path: string }).path, c.flags, c.info.pos, c.fown, c.stolen),
  neededFiles: (reg) => [num(reg.id)],
  restore({ ctx, entry: reg, why }) {
    // O_NOCTTY: a terminal opened again must not become a session leader's controlling terminal
    // (the kernel keeps no trace of it in the file's flags).
    const flags = num(reg.flags);
    const fd = openImagePath(ctx, String(reg.name), reopenFlags(flags), why);
    const pos = big(reg.pos);
    if (pos !== 0n) {
      const r = ctx.raw('lseek', fd, pos, SEEK_SET);
      if (r < 0n) throw new RestoreError('FAILED', `cannot seek ${reg.name} (${why}) to ${pos}: errno ${-r}`);
    }
    return fd;
  },
};
