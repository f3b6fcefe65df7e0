// Lookup tables over every schema in index.ts, for code that finds a message
// or enum by name at run time (the image registry, `cryo decode`, tests).

import type { EnumDef, MessageDef } from '../schema.js';
import * as schemas from './index.js';

function collect<T extends MessageDef | EnumDef>(kind: T['kind']): ReadonlyMap<string, T> {
  const out = new Map<string, T>();
  for (const value of Object.values(schemas) as unknown[]) {
    const def = value as T;
    if (def && typeof def === 'object' && def.kind === kind) out.set(def.name, def);
  }
  return out;
}

/** Every image message, by its .proto name. */
export const schemaMessages: ReadonlyMap<string, MessageDef> = collect<MessageDef>('message');

/** Every enum, by its .proto name (nested ones by their plain name, see nestedEnums). */
export const schemaEnums: ReadonlyMap<string, EnumDef> = collect<EnumDef>('enum');

/**
 * Enums that the .proto declares inside a message, with that message's name.
 * protobuf's full name is `${message}.${enum}` (e.g. core_entry.march); cryo
 * exports them under the plain name, which no top-level type uses.
 */
export const nestedEnums: Readonly<Record<string, string>> = {
  march: 'core_entry',
  vendor: 'cpuinfo_x86_entry',
  endianness: 'cpuinfo_ppc64_entry',
};
