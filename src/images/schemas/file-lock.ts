// file-lock.proto of CRIU 4.2, as cryo schema data.

import { message, req } from '../schema.js';

export const file_lock_entry = message('file_lock_entry', [
  req(1, 'flag', 'uint32'),
  req(2, 'type', 'uint32'),
  req(3, 'pid', 'int32'),
  req(4, 'fd', 'int32'),
  req(5, 'start', 'int64'),
  req(6, 'len', 'int64'),
]);
