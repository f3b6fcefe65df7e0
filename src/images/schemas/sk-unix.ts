// sk-unix.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';
import { fown_entry } from './fown.js';
import { sk_opts_entry, sk_shutdown } from './sk-opts.js';

export const file_perms_entry = message('file_perms_entry', [
  req(1, 'mode', 'uint32'),
  req(2, 'uid', 'uint32'),
  req(3, 'gid', 'uint32'),
]);

export const unix_sk_entry = message('unix_sk_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'ino', 'uint32'),
  req(3, 'type', 'uint32', { dict: 'sk' }),
  req(4, 'state', 'uint32', { dict: 'sk' }),
  req(5, 'flags', 'uint32', { hex: true }),
  req(6, 'uflags', 'uint32', { hex: true }),
  req(7, 'backlog', 'uint32'),
  req(8, 'peer', 'uint32'),
  req(9, 'fown', () => fown_entry),
  req(10, 'opts', () => sk_opts_entry),
  req(11, 'name', 'bytes', { conv: 'unix_name' }),
  opt(12, 'shutdown', sk_shutdown),
  opt(13, 'file_perms', () => file_perms_entry),
  opt(14, 'name_dir', 'string'),
  opt(15, 'deleted', 'bool'),
  opt(16, 'ns_id', 'uint32'),
  opt(17, 'mnt_id', 'sint32'),  // proto default -1: defaults.ts
]);
