/**
 * The Linux security module that labels tasks on this host, as the inventory's lsmtype names it
 * (CRIU decides the same way): AppArmor when securityfs shows it, SELinux when selinuxfs is
 * mounted, else none. cryo records no per-task profile; the type says what the dump ran under.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export type LsmType = 'APPARMOR' | 'SELINUX' | 'NO_LSM';

export function hostLsmType(root = '/'): LsmType {
  if (existsSync(path.join(root, 'sys/kernel/security/apparmor'))) return 'APPARMOR';
  if (existsSync(path.join(root, 'sys/fs/selinux/enforce'))) return 'SELINUX';
  return 'NO_LSM';
}
