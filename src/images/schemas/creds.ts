// creds.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const creds_entry = message('creds_entry', [
  req(1, 'uid', 'uint32'),
  req(2, 'gid', 'uint32'),
  req(3, 'euid', 'uint32'),
  req(4, 'egid', 'uint32'),
  req(5, 'suid', 'uint32'),
  req(6, 'sgid', 'uint32'),
  req(7, 'fsuid', 'uint32'),
  req(8, 'fsgid', 'uint32'),
  rep(9, 'cap_inh', 'uint32'),
  rep(10, 'cap_prm', 'uint32'),
  rep(11, 'cap_eff', 'uint32'),
  rep(12, 'cap_bnd', 'uint32'),
  req(13, 'secbits', 'uint32'),
  rep(14, 'groups', 'uint32'),
  opt(15, 'lsm_profile', 'string'),
  opt(16, 'lsm_sockcreate', 'string'),
  opt(17, 'apparmor_data', 'bytes'),
  opt(18, 'no_new_privs', 'uint32'),
  rep(19, 'cap_amb', 'uint32'),
]);
