/*
 * cryo's restore stub: the blank process a restore turns into the dumped task.
 *
 * cryo starts it with clone3(set_tid = the dumped PID) and PTRACE_TRACEME, so it stops with SIGTRAP
 * right after execve, before any of this code runs; cryo then replaces its whole address space.
 * The code below only runs when cryo died before it took control: then the stub exits at once,
 * so no stray or stopped process is left. No libc: the smaller the address space, the less to undo.
 */
#define CRYO_STUB_EXIT 70

#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n\tmov $231, %eax\n\tmov $70, %edi\n\tsyscall\n\thlt\n");
#elif defined(__aarch64__)
__asm__(".globl _start\n_start:\n\tmov x8, #94\n\tmov x0, #70\n\tsvc #0\n");
#elif defined(__powerpc64__)
__asm__(".globl _start\n_start:\n\tli 0, 234\n\tli 3, 70\n\tsc\n");
#elif defined(__s390x__)
__asm__(".globl _start\n_start:\n\tlghi %r2, 70\n\tsvc 248\n");
#else
#error "cryo's stub does not know this architecture's exit_group"
#endif
