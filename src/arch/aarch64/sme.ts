// SME state cryo does not save yet: streaming SVE mode (NT_ARM_SSVE's header says its registers are
// the live ones) and ZA storage in use (NT_ARM_ZA holds more than its header). A dump refuses a
// thread with either instead of losing it (TPIDR2_EL0 is saved: regs.ts). Only the 16-byte headers
// are read (a short PTRACE_GETREGSET buffer gets the start of the regset).

import type { MissingFeature, Regsets, RegsetSpec } from '../types.js';
import { decodeTable } from './byte-order.js';
import { SVE_HEADER, SVE_HEADER_SIZE, SVE_PT_REGS_SVE } from './sve.js';

export const NT_ARM_SSVE = 0x40b;
export const NT_ARM_ZA = 0x40c;

/** The headers read at dump (absent without SME). struct user_za_header has user_sve_header's layout. */
export const SME_HEADERS: readonly RegsetSpec[] = [
  { nt: NT_ARM_SSVE, name: 'NT_ARM_SSVE', maxSize: SVE_HEADER_SIZE, required: false },
  { nt: NT_ARM_ZA, name: 'NT_ARM_ZA', maxSize: SVE_HEADER_SIZE, required: false },
];

const refuse = (name: string, what: string): MissingFeature => ({
  name, bits: [],
  message: `the task ${what}, which cryo cannot save yet: it cannot be dumped while it does`,
});

export function unsavableSme(regsets: Regsets): MissingFeature[] {
  const out: MissingFeature[] = [];
  const ssve = regsets.get(NT_ARM_SSVE);
  if (ssve !== undefined && ssve.length >= SVE_HEADER_SIZE && (Number(decodeTable(SVE_HEADER, ssve).flags) & SVE_PT_REGS_SVE) !== 0) {
    out.push(refuse('SME streaming mode', 'runs in SME streaming SVE mode (NT_ARM_SSVE)'));
  }
  const za = regsets.get(NT_ARM_ZA);
  if (za !== undefined && za.length >= SVE_HEADER_SIZE && Number(decodeTable(SVE_HEADER, za).size) > SVE_HEADER_SIZE) {
    out.push(refuse('SME ZA', 'has SME\'s ZA storage in use (NT_ARM_ZA)'));
  }
  return out;
}
