// Kernel ABI facts the sys tests check against, per architecture (keyed by process.arch).
// Each value is what the kernel/glibc headers of that architecture say; test/cross/arch-abi-headers.test.ts
// proves every row against those headers with the matching (cross) C compiler.

export interface ArchAbi {
  /** GNU triplet of the C compiler for this architecture. */
  triplet: string;
  /** Bytes NT_PRSTATUS returns: sizeof(elf_gregset_t) (x86_64 user_regs_struct, arm64 user_pt_regs, ppc64 ELF_NGREG=48 longs, s390x s390_regs). */
  prstatusSize: number;
  /** Offset of the instruction pointer in NT_PRSTATUS: rip, pc, nip, psw.addr. */
  ipOffset: number;
  /** The C expression for that offset, for the header check. */
  ipOffsetOf: string;
  /** FIONREAD's request number (ppc64 encodes it as _IOR('f', 127, int)). */
  fionread: number;
  /** True where the CPU has cpuid/xgetbv (the addon exports them only there). */
  cpuid: boolean;
}

export const ARCH_ABI: Readonly<Record<string, ArchAbi>> = Object.freeze({
  x64: { triplet: 'x86_64-linux-gnu', prstatusSize: 27 * 8, ipOffset: 16 * 8, ipOffsetOf: 'offsetof(struct user_regs_struct, rip)', fionread: 0x541b, cpuid: true },
  arm64: { triplet: 'aarch64-linux-gnu', prstatusSize: 34 * 8, ipOffset: 32 * 8, ipOffsetOf: 'offsetof(struct user_regs_struct, pc)', fionread: 0x541b, cpuid: false },
  ppc64: { triplet: 'powerpc64le-linux-gnu', prstatusSize: 48 * 8, ipOffset: 32 * 8, ipOffsetOf: 'offsetof(struct pt_regs, nip)', fionread: 0x4004667f, cpuid: false },
  s390x: { triplet: 's390x-linux-gnu', prstatusSize: 27 * 8, ipOffset: 8, ipOffsetOf: 'offsetof(struct _user_regs_struct, psw.addr)', fionread: 0x541b, cpuid: false },
});

/** The facts for the machine the tests run on; a clear error on an architecture without a row. */
export function hostAbi(): ArchAbi {
  const abi = ARCH_ABI[process.arch];
  if (!abi) throw new Error(`test/helpers/arch-abi.ts has no row for ${process.arch}: add one`);
  return abi;
}
