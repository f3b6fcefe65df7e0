/*
 * clone3 with CLONE_VM | CLONE_VFORK: the child runs `fn(arg)` on a stack of its own in cryo's
 * address space, and the calling thread sleeps until it has exec'd or exited (as posix_spawn).
 * A plain fork of Node copies every page table of its heap (3 to 10 ms at 100-200 MiB) and then
 * faults the parent's pages back in copy-on-write; this costs well under a millisecond.
 *
 * The child starts on the instruction after the syscall with SP at the new stack's top, so it
 * cannot return through a C function: each architecture's few instructions call `fn` from there.
 * `fn` never returns (it execs or exits). Included by cryo_sys.c; CLONE_VM_SPAWN says whether this
 * architecture has them (elsewhere spawn forks: ppc64le's, of the same shape, passed spawn's tests in
 * its guest but crashed a longer test once, not found why).
 */

#define CLONE_VM_SPAWN_STACK (128 * 1024)

#if defined(__x86_64__)
#define CLONE_VM_SPAWN 1
static long clone3_vm(void *args, unsigned long size, void (*fn)(void *), void *arg) {
  long ret;
  register void (*f)(void *) __asm__("r12") = fn; /* preserved by syscall, copied to the child */
  register void *a __asm__("r13") = arg;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"
      "mov %%r13, %%rdi\n\t"
      "call *%%r12\n\t"
      "ud2\n\t"
      "1:\n\t"
      : "=a"(ret)
      : "0"((long)__NR_clone3), "D"(args), "S"(size), "r"(f), "r"(a)
      : "rcx", "r11", "memory", "cc");
  return ret;
}
#elif defined(__aarch64__)
#define CLONE_VM_SPAWN 1
static long clone3_vm(void *args, unsigned long size, void (*fn)(void *), void *arg) {
  register long x0 __asm__("x0") = (long)args;
  register long x1 __asm__("x1") = (long)size;
  register long x8 __asm__("x8") = __NR_clone3;
  register void (*f)(void *) __asm__("x19") = fn; /* every register but x0 survives svc */
  register void *a __asm__("x20") = arg;
  __asm__ volatile(
      "svc #0\n\t"
      "cbnz x0, 1f\n\t"
      "mov x29, xzr\n\t"
      "mov x30, xzr\n\t"
      "mov x0, x20\n\t"
      "blr x19\n\t"
      "brk #0\n\t"
      "1:\n\t"
      : "+r"(x0)
      : "r"(x1), "r"(x8), "r"(f), "r"(a)
      : "memory", "cc");
  return x0;
}
#else
#define CLONE_VM_SPAWN 0
#endif
