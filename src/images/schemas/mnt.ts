// mnt.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt } from '../schema.js';

export const fstype = enumDef('fstype', {
  UNSUPPORTED: 0,
  PROC: 1,
  SYSFS: 2,
  DEVTMPFS: 3,
  BINFMT_MISC: 4,
  TMPFS: 5,
  DEVPTS: 6,
  SIMFS: 7,
  PSTORE: 8,
  SECURITYFS: 9,
  FUSECTL: 10,
  DEBUGFS: 11,
  CGROUP: 12,
  AUFS: 13,
  MQUEUE: 14,
  FUSE: 15,
  AUTO: 16,
  OVERLAYFS: 17,
  AUTOFS: 18,
  TRACEFS: 19,
  CGROUP2: 23,
});

export const mnt_entry = message('mnt_entry', [
  req(1, 'fstype', 'uint32'),
  req(2, 'mnt_id', 'uint32'),
  req(3, 'root_dev', 'uint32', { dev: true }),
  req(4, 'parent_mnt_id', 'uint32'),
  req(5, 'flags', 'uint32', { hex: true }),
  req(6, 'root', 'string'),
  req(7, 'mountpoint', 'string'),
  req(8, 'source', 'string'),
  req(9, 'options', 'string'),
  opt(10, 'shared_id', 'uint32'),
  opt(11, 'master_id', 'uint32'),
  opt(12, 'with_plugin', 'bool'),
  opt(13, 'ext_mount', 'bool'),
  opt(14, 'fsname', 'string'),
  opt(15, 'internal_sharing', 'bool'),
  opt(16, 'deleted', 'bool'),
  opt(17, 'sb_flags', 'uint32', { hex: true }),
  opt(18, 'ext_key', 'string'),
]);
