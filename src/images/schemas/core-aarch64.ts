// core-aarch64.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const user_aarch64_regs_entry = message('user_aarch64_regs_entry', [
  rep(1, 'regs', 'uint64'),
  req(2, 'sp', 'uint64'),
  req(3, 'pc', 'uint64'),
  req(4, 'pstate', 'uint64'),
]);

export const user_aarch64_fpsimd_context_entry = message('user_aarch64_fpsimd_context_entry', [
  rep(1, 'vregs', 'uint64'),
  req(2, 'fpsr', 'uint32'),
  req(3, 'fpcr', 'uint32'),
]);

export const pac_address_keys = message('pac_address_keys', [
  req(1, 'apiakey_lo', 'uint64'),
  req(2, 'apiakey_hi', 'uint64'),
  req(3, 'apibkey_lo', 'uint64'),
  req(4, 'apibkey_hi', 'uint64'),
  req(5, 'apdakey_lo', 'uint64'),
  req(6, 'apdakey_hi', 'uint64'),
  req(7, 'apdbkey_lo', 'uint64'),
  req(8, 'apdbkey_hi', 'uint64'),
  req(9, 'pac_enabled_key', 'uint64'),
]);

export const pac_generic_keys = message('pac_generic_keys', [
  req(1, 'apgakey_lo', 'uint64'),
  req(2, 'apgakey_hi', 'uint64'),
]);

export const pac_keys = message('pac_keys', [
  opt(6, 'pac_address_keys', () => pac_address_keys),
  opt(7, 'pac_generic_keys', () => pac_generic_keys),
]);

export const thread_info_aarch64 = message('thread_info_aarch64', [
  req(1, 'clear_tid_addr', 'uint64', { hex: true }),
  req(2, 'tls', 'uint64'),
  req(3, 'gpregs', () => user_aarch64_regs_entry, { hex: true }),
  req(4, 'fpsimd', () => user_aarch64_fpsimd_context_entry),
  opt(5, 'pac_keys', () => pac_keys),
]);
