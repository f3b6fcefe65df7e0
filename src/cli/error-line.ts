// The one line every cryo failure is printed as (the CLI's, and the service's for its clients).

import { UsageError } from './command.js';
import { ImageError, ImageJsonError } from '../images/errors.js';

/** One line for any error; a stack only with CRYO_DEBUG=1. */
export function errorLine(e: unknown): string {
  if (e instanceof ImageError || e instanceof ImageJsonError || e instanceof UsageError) return e.message;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && err.syscall) {
    return `${err.path ? `${err.path}: ` : ''}${err.code} from ${err.syscall}`;
  }
  return `internal error: ${err?.message ?? String(e)}`;
}
