// sysctl.proto of CRIU 4.2, as cryo schema data.

import { enumDef, message, req, opt } from '../schema.js';

export const SysctlType = enumDef('SysctlType', {
  CTL_STR: 5,
  CTL_32: 6,
});

export const sysctl_entry = message('sysctl_entry', [
  req(1, 'type', SysctlType),
  opt(2, 'iarg', 'int32'),
  opt(3, 'sarg', 'string'),
]);
