// --network-lock iptables|skip (CRIU's words; cryo has no nftables lock): absent, iptables where the machine has it.
import { UsageError } from '../command.js';
import type { NetworkLock } from '../../shared/fd-options.js';

export function networkLockOf(value: string | undefined): NetworkLock | undefined {
  if (value === undefined || value === 'iptables' || value === 'skip') return value;
  throw new UsageError(`--network-lock ${value}: cryo knows iptables (the default where iptables is installed) and skip`);
}
