// userns.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const uid_gid_extent = message('uid_gid_extent', [
  req(1, 'first', 'uint32'),
  req(2, 'lower_first', 'uint32'),
  req(3, 'count', 'uint32'),
]);

export const userns_entry = message('userns_entry', [
  rep(1, 'uid_map', () => uid_gid_extent),
  rep(2, 'gid_map', () => uid_gid_extent),
]);
