// memfd.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';
import { fown_entry } from './fown.js';

export const memfd_file_entry = message('memfd_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { flags: 'rfile.flags' }),
  req(3, 'pos', 'uint64'),
  req(4, 'fown', () => fown_entry),
  req(5, 'inode_id', 'uint32'),
]);

export const memfd_inode_entry = message('memfd_inode_entry', [
  req(1, 'name', 'string'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
  req(4, 'size', 'uint64'),
  req(5, 'shmid', 'uint32'),
  req(6, 'seals', 'uint32', { flags: 'seals.flags' }),
  req(7, 'inode_id', 'uint64'),
  opt(8, 'hugetlb_flag', 'uint32'),
  opt(9, 'mode', 'uint32'),
]);
