// pstree.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const pstree_entry = message('pstree_entry', [
  req(1, 'pid', 'uint32'),
  req(2, 'ppid', 'uint32'),
  req(3, 'pgid', 'uint32'),
  req(4, 'sid', 'uint32'),
  rep(5, 'threads', 'uint32'),
]);
