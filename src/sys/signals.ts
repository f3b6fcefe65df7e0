// Signal numbers, once: the host's (every architecture cryo targets numbers these alike), and the
// kernel's count of them (_NSIG), which CRIU's core image sizes its signal action list by.
import { constants } from 'node:os';

export const { SIGKILL, SIGSTOP, SIGTRAP, SIGCHLD } = constants.signals;
export const SIGMAX = 64;
