/**
 * Linked remaps (remap-fpath.img, LINKED): a file the task opened by a path that no longer leads
 * to it (unlinked or replaced there) while another link keeps it alive. The dump gives it one
 * more name, link_remap.ID in the nearest directory above its old path that still exists (as
 * CRIU's --link-remap does); restore opens it there (through its old name where it can) and
 * removes that name once the task is back.
 */
import { lstatSync, rmSync, statSync, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { rawSyscall, SysError, AT_SYMLINK_FOLLOW, AT_FDCWD, cstr } from '../sys/index.js';

/** The task behind a /proc path has cryo's root: its names are paths here (a chrooted task's are not). */
function rootIsOurs(openPath: string): boolean {
  const pid = /^\/proc\/(\d+)\//.exec(openPath)?.[1];
  if (pid === undefined) return false;
  try {
    const theirs = statSync(`/proc/${pid}/root`, { bigint: true });
    const ours = statSync('/', { bigint: true });
    return theirs.dev === ours.dev && theirs.ino === ours.ino;
  } catch {
    return false;
  }
}

/**
 * True when `name` no longer leads to the file `st` (opened at `openPath`, a /proc magic link)
 * though it still has links.
 */
export function linkedElsewhere(openPath: string, name: string, st: BigIntStats): boolean {
  return st.isFile() && leadsElsewhere(openPath, name, st);
}

/**
 * True when `name` no longer leads to the file `st` (opened at `openPath`, a /proc magic link)
 * though it still has links: another file took the name, or a file system is mounted over it.
 */
export function leadsElsewhere(openPath: string, name: string, st: BigIntStats): boolean {
  if (st.nlink === 0n || !name.startsWith('/') || !rootIsOurs(openPath)) return false;
  const now = lstatSync(name, { bigint: true, throwIfNoEntry: false });
  return now === undefined || now.dev !== st.dev || now.ino !== st.ino;
}

/**
 * Links the file open at `openPath` (a /proc magic link) as link_remap.ID (.N when taken) in the
 * nearest existing directory above `name` on its file system; its path, or undefined where no
 * such directory takes it (another file system mounted over, no permission).
 */
export function makeLinkRemap(openPath: string, name: string, id: number, dev: bigint): string | undefined {
  for (let dir = path.dirname(name); ; dir = path.dirname(dir)) {
    const st = lstatSync(dir, { bigint: true, throwIfNoEntry: false });
    if (st?.isDirectory() && st.dev === dev) {
      for (let n = 0; n < 100; n++) {
        const at = path.join(dir, `link_remap.${id}${n === 0 ? '' : `.${n}`}`);
        try {
          rawSyscall('linkat', AT_FDCWD, cstr(openPath), AT_FDCWD, cstr(at), AT_SYMLINK_FOLLOW);
          return at;
        } catch (e) {
          if (!(e instanceof SysError && e.code === 'EEXIST')) return undefined;
        }
      }
      return undefined;
    }
    if (dir === '/') return undefined;
  }
}

/** Removes the links a dump made (it failed: nothing will restore from them). */
export function removeLinkRemaps(paths: string[]): void {
  for (const p of paths.splice(0)) rmSync(p, { force: true });
}
