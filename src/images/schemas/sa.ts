// sa.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt } from '../schema.js';

export const sa_entry = message('sa_entry', [
  req(1, 'sigaction', 'uint64', { hex: true }),
  req(2, 'flags', 'uint64', { hex: true }),
  req(3, 'restorer', 'uint64', { hex: true }),
  req(4, 'mask', 'uint64', { hex: true }),
  opt(5, 'compat_sigaction', 'bool'),
  opt(6, 'mask_extended', 'uint64', { hex: true }),
]);
