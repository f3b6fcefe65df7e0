// cpuinfo.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt, rep } from '../schema.js';

/** Declared inside cpuinfo_x86_entry in the .proto; crit only shows its value names. */
export const vendor = enumDef('vendor', {
  UNKNOWN: 0,
  INTEL: 1,
  AMD: 2,
});

/** Declared inside cpuinfo_ppc64_entry in the .proto; crit only shows its value names. */
export const endianness = enumDef('endianness', {
  BIGENDIAN: 0,
  LITTLEENDIAN: 1,
});

export const cpuinfo_x86_entry = message('cpuinfo_x86_entry', [
  req(1, 'vendor_id', vendor),
  req(2, 'cpu_family', 'uint32'),
  req(3, 'model', 'uint32'),
  req(4, 'stepping', 'uint32'),
  req(5, 'capability_ver', 'uint32'),
  rep(6, 'capability', 'uint32'),
  opt(7, 'model_id', 'string'),
  opt(8, 'xfeatures_mask', 'uint64'),
  opt(9, 'xsave_size', 'uint32'),
  opt(10, 'xsave_size_max', 'uint32'),
]);

export const cpuinfo_ppc64_entry = message('cpuinfo_ppc64_entry', [
  req(1, 'endian', endianness),
  rep(2, 'hwcap', 'uint64'),
]);

export const cpuinfo_s390_entry = message('cpuinfo_s390_entry', [
  rep(2, 'hwcap', 'uint64'),
]);

export const cpuinfo_entry = message('cpuinfo_entry', [
  rep(1, 'x86_entry', () => cpuinfo_x86_entry),
  rep(2, 'ppc64_entry', () => cpuinfo_ppc64_entry),
  rep(3, 's390_entry', () => cpuinfo_s390_entry),
]);
