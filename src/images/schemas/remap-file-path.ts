// remap-file-path.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt } from '../schema.js';

export const remap_type = enumDef('remap_type', {
  LINKED: 0,
  GHOST: 1,
  PROCFS: 2,
});

export const remap_file_path_entry = message('remap_file_path_entry', [
  req(1, 'orig_id', 'uint32'),
  req(2, 'remap_id', 'uint32'),
  opt(3, 'remap_type', remap_type),
]);
