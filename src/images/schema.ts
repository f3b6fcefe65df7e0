// The schema language for CRIU's protobuf images: cryo's own description of
// each message as data. The wire codec, the crit-compatible JSON form and the
// typed accessors are all derived from these descriptions.

export type ScalarType =
  | 'int32' | 'uint32' | 'sint32' | 'fixed32' | 'sfixed32'
  | 'int64' | 'uint64' | 'sint64' | 'fixed64' | 'sfixed64'
  | 'bool' | 'string' | 'bytes' | 'float' | 'double';

export type Label = 'required' | 'optional' | 'repeated';

/** crit's per-field presentation options (CRIU's `(criu).*` field options). */
export interface FieldOptions {
  /** Shown as "0x..." in pretty JSON. Inherited by every field of a nested message. */
  hex?: boolean;
  /** A repeated uint32 holding an IPv4 (1 word) or IPv6 (4 words) address in network order. */
  ipadd?: boolean;
  /** Name of a flag table in flags.ts (e.g. 'mmap.prot'); unknown names print as hex. */
  flags?: string;
  /** dev_t in the kernel's new encoding (major << 20 | minor). */
  dev?: boolean;
  /** dev_t in the old (glibc makedev) encoding. */
  odev?: boolean;
  /** Name of a value->name dictionary group ('gen' or 'sk'), looked up by field name. */
  dict?: string;
  /** Custom bytes conversion ('unix_name': quoted-printable instead of base64). */
  conv?: string;
  /** Packed encoding for a repeated scalar ([packed = true] in the .proto). */
  packed?: boolean;
}

export interface EnumDef {
  readonly kind: 'enum';
  readonly name: string;
  readonly values: Readonly<Record<string, number>>;
}

export interface MessageDef {
  readonly kind: 'message';
  readonly name: string;
  /** Sorted by field number. */
  readonly fields: readonly FieldDef[];
}

export type FieldType = ScalarType | EnumDef | (() => MessageDef);

export interface FieldDef {
  readonly no: number;
  readonly name: string;
  readonly label: Label;
  readonly type: FieldType;
  readonly opts: FieldOptions;
}

export function enumDef(name: string, values: Record<string, number>): EnumDef {
  return { kind: 'enum', name, values };
}

/** A field spec: [number, name, label, type, options?]. */
export type FieldSpec = [number, string, Label, FieldType, FieldOptions?];

export function message(name: string, specs: FieldSpec[]): MessageDef {
  const fields = specs
    .map(([no, fname, label, type, opts]) => ({ no, name: fname, label, type, opts: opts ?? {} }))
    .sort((a, b) => a.no - b.no);
  return { kind: 'message', name, fields };
}

// Short forms, so schema files read like the .proto they describe.
export const req = (no: number, name: string, type: FieldType, opts?: FieldOptions): FieldSpec =>
  [no, name, 'required', type, opts];
export const opt = (no: number, name: string, type: FieldType, opts?: FieldOptions): FieldSpec =>
  [no, name, 'optional', type, opts];
export const rep = (no: number, name: string, type: FieldType, opts?: FieldOptions): FieldSpec =>
  [no, name, 'repeated', type, opts];

export function isMessageType(t: FieldType): t is () => MessageDef {
  return typeof t === 'function';
}
export function isEnumType(t: FieldType): t is EnumDef {
  return typeof t === 'object' && t.kind === 'enum';
}
