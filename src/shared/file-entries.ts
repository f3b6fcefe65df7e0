// Looking up files.img entries restore needs by id, with clear errors.
import type { MessageValue } from '../images/value.js';
import { RestoreError } from './restore-error.js';
import type { RestoreImages } from './restore-images.js';

/** The reg_file_entry of a file id, or a clear error. */
export function regFile(img: RestoreImages, id: number, why: string): MessageValue {
  const f = img.files.get(id);
  if (f === undefined) throw new RestoreError('IMAGE_INCONSISTENT', `${why} refers to file id ${id}, which files.img does not have`);
  const reg = f.reg as MessageValue | undefined;
  if (f.type !== 'REG' || reg === undefined) {
    throw new RestoreError('UNSUPPORTED', `${why} is a ${String(f.type)} file; cryo can only restore regular files there`);
  }
  return reg;
}
