/**
 * `Arch.callThenRestore` on x86_64 (issue 15): one call, then the thread's own state back without a
 * signal frame or any stack, so that the code fits where a frame does not (the vDSO's unused tail)
 * and serves the two calls that map and unmap cryo's own area. Assembled from:
 *   syscall                                   (cryo's call)
 *   mov $14,%eax; mov $2,%edi; lea mask(%rip),%rsi; xor %edx,%edx; mov $8,%r10d; syscall
 *                                             (rt_sigprocmask(SIG_SETMASK, &mask, NULL, 8))
 *   cld|std; (mov $0x7f,%al; add $1,%al)|(xor %al,%al); mov $FLAGS,%ah; sahf
 *                                             (DF, OF, then SF ZF AF PF CF: mov keeps them)
 *   movabs $value,%reg for all sixteen registers (rsp among them)
 *   jmp *0(%rip); .quad ip; mask: .quad sigmask
 * Flags other than those (AC, ...) come back as 0. No FP or vector register is touched.
 */
import type { ImageRecord } from '../regtable.js';
import type { ThreadInfo } from '../types.js';
import { SYSCALL_INSN } from './syscall-abi.js';

const NR_RT_SIGPROCMASK = 14;
const SIG_SETMASK = 2;
/** Registers by their encoding number (REX.B for 8-15), as movabs names them. */
const BY_CODE = ['ax', 'cx', 'dx', 'bx', 'sp', 'bp', 'si', 'di', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
const CF_PF_AF_ZF_SF = 0xd5n;
const DF = 1n << 10n;
const OF = 1n << 11n;

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, v));
  return b;
}

export function callThenRestore(ti: ThreadInfo, sigmask: bigint): Buffer {
  const gp = ti.gpregs as ImageRecord;
  const reg = (name: string) => BigInt(gp[name] as bigint);
  const flags = reg('flags');
  const head = Buffer.concat([
    SYSCALL_INSN,
    Buffer.from([0xb8]), u32(NR_RT_SIGPROCMASK),
    Buffer.from([0xbf]), u32(SIG_SETMASK),
  ]);
  // lea mask(%rip),%rsi: displacement patched once the length is known.
  const leaAt = head.length;
  const rest = Buffer.concat([
    Buffer.from([0x31, 0xd2]),
    Buffer.from([0x41, 0xba]), u32(8),
    SYSCALL_INSN,
    Buffer.from([(flags & DF) !== 0n ? 0xfd : 0xfc]),
    (flags & OF) !== 0n ? Buffer.from([0xb0, 0x7f, 0x04, 0x01]) : Buffer.from([0x30, 0xc0]),
    Buffer.from([0xb4, Number((flags & CF_PF_AF_ZF_SF) | 2n), 0x9e]),
    ...BY_CODE.map((name, code) => Buffer.concat([Buffer.from([code < 8 ? 0x48 : 0x49, 0xb8 + (code & 7)]), u64(reg(name))])),
    Buffer.from([0xff, 0x25]), u32(0), u64(reg('ip')),
  ]);
  const lea = Buffer.concat([Buffer.from([0x48, 0x8d, 0x35]), u32(0)]);
  const code = Buffer.concat([head, lea, rest, u64(sigmask)]);
  // rip-relative: from the end of the lea to the mask, the last 8 bytes.
  code.writeInt32LE(code.length - 8 - (leaAt + lea.length), leaAt + 3);
  return code;
}
