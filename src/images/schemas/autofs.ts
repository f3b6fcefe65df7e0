// autofs.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const autofs_entry = message('autofs_entry', [
  req(1, 'fd', 'int32'),
  req(2, 'pgrp', 'int32'),
  req(3, 'timeout', 'int32'),
  req(4, 'minproto', 'int32'),
  req(5, 'maxproto', 'int32'),
  req(6, 'mode', 'int32'),
  opt(7, 'uid', 'int32'),
  opt(8, 'gid', 'int32'),
  opt(9, 'read_fd', 'int32'),
]);
