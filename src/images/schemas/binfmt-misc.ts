// binfmt-misc.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const binfmt_misc_entry = message('binfmt_misc_entry', [
  req(1, 'name', 'string'),
  req(2, 'enabled', 'bool'),
  req(3, 'interpreter', 'string'),
  opt(4, 'flags', 'string'),
  opt(5, 'extension', 'string'),
  opt(6, 'magic', 'string'),
  opt(7, 'mask', 'string'),
  opt(8, 'offset', 'int32'),
]);
