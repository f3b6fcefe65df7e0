// core-x86.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';

export const user_x86_regs_mode = enumDef('user_x86_regs_mode', {
  NATIVE: 1,
  COMPAT: 2,
});

export const user_x86_regs_entry = message('user_x86_regs_entry', [
  req(1, 'r15', 'uint64'),
  req(2, 'r14', 'uint64'),
  req(3, 'r13', 'uint64'),
  req(4, 'r12', 'uint64'),
  req(5, 'bp', 'uint64'),
  req(6, 'bx', 'uint64'),
  req(7, 'r11', 'uint64'),
  req(8, 'r10', 'uint64'),
  req(9, 'r9', 'uint64'),
  req(10, 'r8', 'uint64'),
  req(11, 'ax', 'uint64'),
  req(12, 'cx', 'uint64'),
  req(13, 'dx', 'uint64'),
  req(14, 'si', 'uint64'),
  req(15, 'di', 'uint64'),
  req(16, 'orig_ax', 'uint64'),
  req(17, 'ip', 'uint64'),
  req(18, 'cs', 'uint64'),
  req(19, 'flags', 'uint64'),
  req(20, 'sp', 'uint64'),
  req(21, 'ss', 'uint64'),
  req(22, 'fs_base', 'uint64'),
  req(23, 'gs_base', 'uint64'),
  req(24, 'ds', 'uint64'),
  req(25, 'es', 'uint64'),
  req(26, 'fs', 'uint64'),
  req(27, 'gs', 'uint64'),
  opt(28, 'mode', user_x86_regs_mode),  // proto default NATIVE: defaults.ts
]);

export const user_x86_cet_entry = message('user_x86_cet_entry', [
  req(1, 'cet', 'uint64', { hex: true }),
  req(2, 'ssp', 'uint64', { hex: true }),
]);

export const user_x86_xsave_entry = message('user_x86_xsave_entry', [
  req(1, 'xstate_bv', 'uint64'),
  rep(2, 'ymmh_space', 'uint32'),
  rep(3, 'bndreg_state', 'uint64'),
  rep(4, 'bndcsr_state', 'uint64'),
  rep(5, 'opmask_reg', 'uint64'),
  rep(6, 'zmm_upper', 'uint64'),
  rep(7, 'hi16_zmm', 'uint64'),
  rep(8, 'pkru', 'uint32'),
  opt(9, 'cet', () => user_x86_cet_entry),
]);

export const user_x86_fpregs_entry = message('user_x86_fpregs_entry', [
  req(1, 'cwd', 'uint32'),
  req(2, 'swd', 'uint32'),
  req(3, 'twd', 'uint32'),
  req(4, 'fop', 'uint32'),
  req(5, 'rip', 'uint64'),
  req(6, 'rdp', 'uint64'),
  req(7, 'mxcsr', 'uint32'),
  req(8, 'mxcsr_mask', 'uint32'),
  rep(9, 'st_space', 'uint32'),
  rep(10, 'xmm_space', 'uint32'),
  rep(11, 'padding', 'uint32'),
  opt(13, 'xsave', () => user_x86_xsave_entry),
]);

export const user_desc_t = message('user_desc_t', [
  req(1, 'entry_number', 'uint32'),
  req(2, 'base_addr', 'uint32'),
  req(3, 'limit', 'uint32'),
  req(4, 'seg_32bit', 'bool'),
  req(5, 'contents_h', 'bool'),
  req(6, 'contents_l', 'bool'),
  req(7, 'read_exec_only', 'bool'),  // proto default true: defaults.ts
  req(8, 'limit_in_pages', 'bool'),
  req(9, 'seg_not_present', 'bool'),  // proto default true: defaults.ts
  req(10, 'usable', 'bool'),
]);

export const thread_info_x86 = message('thread_info_x86', [
  req(1, 'clear_tid_addr', 'uint64', { hex: true }),
  req(2, 'gpregs', () => user_x86_regs_entry, { hex: true }),
  req(3, 'fpregs', () => user_x86_fpregs_entry),
  rep(4, 'tls', () => user_desc_t),
]);
