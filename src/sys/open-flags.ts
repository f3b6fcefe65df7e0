// open(2) flags that the syscall layer itself needs and that no architecture cryo targets numbers
// differently; src/shared/constants.ts re-exports them with the rest.
export const O_CLOEXEC = 0o2000000;
export const O_PATH = 0o10000000;
