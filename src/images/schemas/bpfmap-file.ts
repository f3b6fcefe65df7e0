// bpfmap-file.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';
import { fown_entry } from './fown.js';

export const bpfmap_file_entry = message('bpfmap_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { flags: 'rfile.flags' }),
  req(3, 'pos', 'uint64'),
  req(4, 'fown', () => fown_entry),
  req(5, 'map_type', 'uint32'),
  req(6, 'key_size', 'uint32'),
  req(7, 'value_size', 'uint32'),
  req(8, 'map_id', 'uint32'),
  req(9, 'max_entries', 'uint32'),
  req(10, 'map_flags', 'uint32'),
  req(11, 'memlock', 'uint64'),
  req(12, 'frozen', 'bool'),  // proto default false: defaults.ts
  req(13, 'map_name', 'string'),
  req(14, 'ifindex', 'uint32'),  // proto default 0: defaults.ts
  opt(15, 'mnt_id', 'sint32'),  // proto default -1: defaults.ts
  opt(16, 'map_extra', 'uint64'),
]);
