// fsnotify.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';
import { fh_entry } from './fh.js';
import { fown_entry } from './fown.js';

export const mark_type = enumDef('mark_type', {
  INODE: 1,
  MOUNT: 2,
});

export const inotify_wd_entry = message('inotify_wd_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'i_ino', 'uint64'),
  req(3, 'mask', 'uint32', { hex: true }),
  req(4, 'ignored_mask', 'uint32', { hex: true }),
  req(5, 's_dev', 'uint32', { dev: true }),
  req(6, 'wd', 'uint32'),
  req(7, 'f_handle', () => fh_entry),
]);

export const inotify_file_entry = message('inotify_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { hex: true }),
  req(4, 'fown', () => fown_entry),
  rep(5, 'wd', () => inotify_wd_entry),
]);

export const fanotify_inode_mark_entry = message('fanotify_inode_mark_entry', [
  req(1, 'i_ino', 'uint64'),
  req(2, 'f_handle', () => fh_entry),
]);

export const fanotify_mount_mark_entry = message('fanotify_mount_mark_entry', [
  req(1, 'mnt_id', 'uint32'),
  opt(2, 'path', 'string'),
]);

export const fanotify_mark_entry = message('fanotify_mark_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'type', mark_type),
  req(3, 'mflags', 'uint32', { hex: true }),
  req(4, 'mask', 'uint32', { hex: true }),
  req(5, 'ignored_mask', 'uint32', { hex: true }),
  req(6, 's_dev', 'uint32', { dev: true }),
  opt(7, 'ie', () => fanotify_inode_mark_entry),
  opt(8, 'me', () => fanotify_mount_mark_entry),
]);

export const fanotify_file_entry = message('fanotify_file_entry', [
  req(1, 'id', 'uint32'),
  req(2, 'flags', 'uint32', { hex: true }),
  req(3, 'fown', () => fown_entry),
  req(4, 'faflags', 'uint32', { hex: true }),
  req(5, 'evflags', 'uint32', { hex: true }),
  rep(6, 'mark', () => fanotify_mark_entry),
]);
