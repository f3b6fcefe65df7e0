// core-ppc64.proto of CRIU 4.2, as cryo schema data.

import { message, req, opt, rep } from '../schema.js';

export const user_ppc64_regs_entry = message('user_ppc64_regs_entry', [
  rep(1, 'gpr', 'uint64'),
  req(2, 'nip', 'uint64'),
  req(3, 'msr', 'uint64'),
  req(4, 'orig_gpr3', 'uint64'),
  req(5, 'ctr', 'uint64'),
  req(6, 'link', 'uint64'),
  req(7, 'xer', 'uint64'),
  req(8, 'ccr', 'uint64'),
  req(9, 'trap', 'uint64'),
  opt(10, 'texasr', 'uint64'),
  opt(11, 'tfhar', 'uint64'),
  opt(12, 'tfiar', 'uint64'),
]);

export const user_ppc64_fpstate_entry = message('user_ppc64_fpstate_entry', [
  rep(1, 'fpregs', 'uint64'),
]);

export const user_ppc64_vrstate_entry = message('user_ppc64_vrstate_entry', [
  rep(1, 'vrregs', 'uint64'),
  req(2, 'vrsave', 'uint32'),
]);

export const user_ppc64_vsxstate_entry = message('user_ppc64_vsxstate_entry', [
  rep(1, 'vsxregs', 'uint64'),
]);

export const user_ppc64_tm_regs_entry = message('user_ppc64_tm_regs_entry', [
  req(1, 'gpregs', () => user_ppc64_regs_entry),
  opt(2, 'fpstate', () => user_ppc64_fpstate_entry),
  opt(3, 'vrstate', () => user_ppc64_vrstate_entry),
  opt(4, 'vsxstate', () => user_ppc64_vsxstate_entry),
]);

export const thread_info_ppc64 = message('thread_info_ppc64', [
  req(1, 'clear_tid_addr', 'uint64', { hex: true }),
  req(2, 'gpregs', () => user_ppc64_regs_entry, { hex: true }),
  opt(3, 'fpstate', () => user_ppc64_fpstate_entry),
  opt(4, 'vrstate', () => user_ppc64_vrstate_entry),
  opt(5, 'vsxstate', () => user_ppc64_vsxstate_entry),
  opt(6, 'tmstate', () => user_ppc64_tm_regs_entry),
]);
