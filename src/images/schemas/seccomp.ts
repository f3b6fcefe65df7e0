// seccomp.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const seccomp_filter = message('seccomp_filter', [
  req(1, 'filter', 'bytes'),
  opt(2, 'prev', 'uint32'),
  opt(3, 'flags', 'uint32'),
]);

export const seccomp_entry = message('seccomp_entry', [
  rep(1, 'seccomp_filters', () => seccomp_filter),
]);
