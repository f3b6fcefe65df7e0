// apparmor.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const aa_policy = message('aa_policy', [
  req(1, 'name', 'string'),
  req(2, 'blob', 'bytes'),
]);

export const aa_namespace = message('aa_namespace', [
  req(1, 'name', 'string'),
  rep(2, 'policies', () => aa_policy),
  rep(3, 'namespaces', () => aa_namespace),
]);

export const apparmor_entry = message('apparmor_entry', [
  rep(1, 'namespaces', () => aa_namespace),
]);
