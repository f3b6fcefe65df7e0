// fh.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';

export const fh_entry_sizes = enumDef('fh_entry_sizes', {
  min_entries: 16,
});

export const fh_entry = message('fh_entry', [
  req(1, 'bytes', 'uint32'),
  req(2, 'type', 'uint32'),
  rep(3, 'handle', 'uint64'),
  opt(4, 'path', 'string'),
  opt(5, 'mnt_id', 'uint32'),
]);

export const irmap_cache_entry = message('irmap_cache_entry', [
  req(1, 'dev', 'uint32', { dev: true, odev: true }),
  req(2, 'inode', 'uint64'),
  req(3, 'path', 'string'),
]);
