// regfile.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';
import { fown_entry } from './fown.js';

export const reg_file_entry = message('reg_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { flags: 'rfile.flags' }),
  req(3, 'pos', 'uint64'),
  req(5, 'fown', () => fown_entry),
  req(6, 'name', 'string'),
  opt(7, 'mnt_id', 'sint32'),  // proto default -1: defaults.ts
  opt(8, 'size', 'uint64'),
  opt(9, 'ext', 'bool'),
  opt(10, 'mode', 'uint32'),
  rep(11, 'build_id', 'uint32'),
  opt(12, 'checksum', 'uint32'),
  opt(13, 'checksum_config', 'uint32'),
  opt(14, 'checksum_parameter', 'uint32'),
]);
