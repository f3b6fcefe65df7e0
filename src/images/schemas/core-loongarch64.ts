// core-loongarch64.proto of CRIU 4.2, as cryo schema data.

import { message, req, rep } from '../schema.js';

export const user_loongarch64_gpregs_entry = message('user_loongarch64_gpregs_entry', [
  rep(1, 'regs', 'uint64'),
  req(2, 'pc', 'uint64'),
]);

export const user_loongarch64_fpregs_entry = message('user_loongarch64_fpregs_entry', [
  rep(1, 'regs', 'uint64'),
  req(2, 'fcc', 'uint64'),
  req(3, 'fcsr', 'uint32'),
]);

export const thread_info_loongarch64 = message('thread_info_loongarch64', [
  req(1, 'clear_tid_addr', 'uint64', { hex: true }),
  req(2, 'tls', 'uint64'),
  req(3, 'gpregs', () => user_loongarch64_gpregs_entry, { hex: true }),
  req(4, 'fpregs', () => user_loongarch64_fpregs_entry, { hex: true }),
]);
