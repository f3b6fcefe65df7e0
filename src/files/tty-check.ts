// Preflight of a pty entry: its tty-info entry, and for the job's outside terminal (--shell-job) a
// controlling terminal of cryo's own to give it.
import { isatty } from 'node:tty';
import { rawSyscall } from '../sys/index.js';
import type { MessageValue } from '../images/value.js';
import { RestoreError } from '../shared/restore-error.js';
import type { RestoreImages } from '../shared/restore-images.js';
import { num } from '../shared/constants.js';
import { TIOCGSID } from './tty-ioctl.js';
import { isHungSlave } from './tty-hung.js';

export function ttyInfo(img: RestoreImages, id: number, why: string): MessageValue {
  const info = img.all.get('tty-info.img')?.entries.find((e) => num(e.value.id) === id)?.value;
  if (!info) throw new RestoreError('IMAGE_INCONSISTENT', `tty-info.img has no entry ${id} for the terminal of ${why}`);
  return info;
}

export const infoOf = (img: RestoreImages, id: number) => img.all.get('tty-info.img')?.entries.find((e) => num(e.value.id) === id)?.value;

/** A slave whose master is not in the dump (the terminal the job ran on). */
export function isOutsideSlave(img: RestoreImages, id: number): boolean {
  return (id & 1) === 0 && infoOf(img, id + 1) === undefined && !isHungSlave(img, id);
}

/** --shell-job needs cryo's stdin to be its controlling terminal: that is what the job gets. */
function checkOwnTerminal(why: string): void {
  if (!isatty(0)) throw new RestoreError('UNSUPPORTED', `${why} was the job's terminal, but cryo's stdin is not a terminal: run cryo restore --shell-job from a terminal`);
  try {
    rawSyscall('ioctl', 0, TIOCGSID, Buffer.alloc(4));
  } catch {
    throw new RestoreError('UNSUPPORTED', `${why} was the job's terminal, but cryo's stdin is not its controlling terminal: run cryo restore --shell-job from the shell of that terminal`);
  }
}

/** Preflight: a pty, and for the job's outside terminal --shell-job and a terminal of cryo's own. */
export function checkTty(img: RestoreImages, entry: MessageValue, why: string): void {
  const info = ttyInfo(img, num(entry.tty_info_id), why);
  if (info.type === 'CTTY') return;
  if (info.type !== 'PTY' || !info.pty) {
    throw new RestoreError('UNSUPPORTED', `${why} is a ${String(info.type)} terminal: cryo restores ptys only`);
  }
  if (!isOutsideSlave(img, num(entry.tty_info_id))) return;
  if (!img.fdOptions?.shellJob) {
    throw new RestoreError('UNSUPPORTED', `${why} is the terminal of the shell the job ran in (pts ${num((info.pty as MessageValue).index)}): restore with --shell-job (shellJob) to give it cryo's terminal`);
  }
  checkOwnTerminal(why);
}
