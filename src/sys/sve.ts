/** What SVE vector lengths this CPU offers (aarch64; prctl(2) PR_SVE_SET_VL / PR_SVE_GET_VL). */
import { prctl } from './misc.js';

const PR_SVE_SET_VL = 50;
const PR_SVE_GET_VL = 51;
const PR_SVE_VL_LEN_MASK = 0xffff;
const PR_SVE_VL_INHERIT = 1 << 17;

/**
 * The vector length the kernel gives a thread asking for `vl` bytes (it rounds down to one the CPU
 * has), or undefined without SVE. Asked on the calling thread, whose own length is put back.
 */
export function sveVectorLengthFor(vl: number): number | undefined {
  let cur: number;
  try {
    cur = Number(prctl(PR_SVE_GET_VL));
  } catch {
    return undefined;
  }
  try {
    return Number(prctl(PR_SVE_SET_VL, vl)) & PR_SVE_VL_LEN_MASK;
  } catch {
    return undefined;
  } finally {
    prctl(PR_SVE_SET_VL, cur & (PR_SVE_VL_LEN_MASK | PR_SVE_VL_INHERIT));
  }
}
