// The CPU: whether cryo supports its architecture, and the architecture's own feature lines.
import { readFileSync } from 'node:fs';
import { hostArch, type Arch } from '../arch/index.js';
import { missing, ok } from './result.js';
import type { CheckResult } from './types.js';

/** The CPU's model as /proc/cpuinfo names it, where it does. */
function modelName(): string | undefined {
  try {
    const m = /^(?:model name|cpu model|cpu)\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return m?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** The host architecture, or the reason cryo cannot run here. */
export async function hostArchOrError(): Promise<Arch | Error> {
  try {
    return await hostArch();
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

export function cpuLines(arch: Arch | Error): CheckResult[] {
  if (arch instanceof Error) return [missing('cpu', true, 'cryo cannot dump or restore on this architecture', arch)];
  const model = modelName();
  return [
    ok('cpu', true, model ? `${arch.name}, ${model}` : arch.name),
    ...arch.cpuReport().map(({ present, ...l }): CheckResult => ({ ...l, ok: present, required: false })),
  ];
}
