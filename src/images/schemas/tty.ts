// tty.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';
import { fown_entry } from './fown.js';

export const TtyType = enumDef('TtyType', {
  UNKNOWN: 0,
  PTY: 1,
  CONSOLE: 2,
  VT: 3,
  CTTY: 4,
  EXT_TTY: 5,
  SERIAL: 6,
});

export const winsize_entry = message('winsize_entry', [
  req(1, 'ws_row', 'uint32'),
  req(2, 'ws_col', 'uint32'),
  req(3, 'ws_xpixel', 'uint32'),
  req(4, 'ws_ypixel', 'uint32'),
]);

export const termios_entry = message('termios_entry', [
  req(1, 'c_iflag', 'uint32'),
  req(2, 'c_oflag', 'uint32'),
  req(3, 'c_cflag', 'uint32'),
  req(4, 'c_lflag', 'uint32'),
  req(5, 'c_line', 'uint32'),
  req(6, 'c_ispeed', 'uint32'),
  req(7, 'c_ospeed', 'uint32'),
  rep(8, 'c_cc', 'uint32'),
]);

export const tty_pty_entry = message('tty_pty_entry', [
  req(1, 'index', 'uint32'),
]);

export const tty_data_entry = message('tty_data_entry', [
  req(1, 'tty_id', 'uint32'),
  req(2, 'data', 'bytes'),
]);

export const tty_info_entry = message('tty_info_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'type', TtyType),
  req(3, 'locked', 'bool'),
  req(4, 'exclusive', 'bool'),
  req(5, 'packet_mode', 'bool'),
  req(6, 'sid', 'uint32'),
  req(7, 'pgrp', 'uint32'),
  req(8, 'rdev', 'uint32'),
  opt(9, 'termios', () => termios_entry),
  opt(10, 'termios_locked', () => termios_entry),
  opt(11, 'winsize', () => winsize_entry),
  opt(12, 'pty', () => tty_pty_entry),
  opt(13, 'dev', 'uint32'),
  opt(14, 'uid', 'uint32'),
  opt(15, 'gid', 'uint32'),
]);

export const tty_file_entry = message('tty_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'tty_info_id', 'uint32'),
  req(3, 'flags', 'uint32', { hex: true }),
  req(4, 'fown', () => fown_entry),
  opt(6, 'regf_id', 'uint32'),
]);
