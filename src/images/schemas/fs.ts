// fs.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const fs_entry = message('fs_entry', [
  req(1, 'cwd_id', 'uint32'),
  req(2, 'root_id', 'uint32'),
  opt(3, 'umask', 'uint32'),
]);
