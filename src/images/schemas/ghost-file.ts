// ghost-file.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';
import { timeval } from './time.js';

export const ghost_file_entry = message('ghost_file_entry', [
  req(1, 'uid', 'uint32'),
  req(2, 'gid', 'uint32'),
  req(3, 'mode', 'uint32'),
  opt(4, 'dev', 'uint32', { dev: true }),
  opt(5, 'ino', 'uint64'),
  opt(6, 'rdev', 'uint32', { dev: true, odev: true }),
  opt(7, 'atim', () => timeval),
  opt(8, 'mtim', () => timeval),
  opt(9, 'chunks', 'bool'),
  opt(10, 'size', 'uint64'),
  opt(11, 'symlnk_target', 'string'),
]);

export const ghost_chunk_entry = message('ghost_chunk_entry', [
  req(1, 'len', 'uint64'),
  req(2, 'off', 'uint64'),
]);
