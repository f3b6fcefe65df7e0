// Internal consistency of the image schemas in src/images/schemas: every
// reference resolves, numbers and names are unique, options fit their fields.
// (Agreement with CRIU's .proto files was checked when they were written; this
// test needs no CRIU sources.)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EnumDef, FieldDef, MessageDef, ScalarType } from '../../src/images/schema.js';
import { isEnumType, isMessageType } from '../../src/images/schema.js';
import * as schemas from '../../src/images/schemas/index.js';
import { nestedEnums, schemaEnums, schemaMessages } from '../../src/images/schemas/catalog.js';
import { fieldDefaults } from '../../src/images/schemas/defaults.js';
import { dictGroups, flagTables } from '../../src/images/flags.js';

const exported = Object.entries(schemas as Record<string, unknown>);
const messages = [...schemaMessages.values()];
const enums = [...schemaEnums.values()];
const allFields = messages.flatMap((m) => m.fields.map((f) => ({ m, f })));

const SCALARS = new Set<ScalarType>([
  'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32',
  'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64',
  'bool', 'string', 'bytes', 'float', 'double',
]);
const INTEGERS = new Set<unknown>([
  'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32',
  'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64',
]);
const where = (m: MessageDef, f: FieldDef) => `${m.name}.${f.name} (${f.no})`;

test('every export is a message or enum named exactly as exported', () => {
  assert.ok(exported.length > 0);
  for (const [name, value] of exported) {
    const def = value as MessageDef | EnumDef;
    assert.ok(def.kind === 'message' || def.kind === 'enum', `${name} is neither message nor enum`);
    assert.equal(def.name, name, `export ${name} holds ${def.name}`);
  }
  assert.equal(schemaMessages.size + schemaEnums.size, exported.length, 'two exports share a name');
});

test('the messages the image registry looks up are exported', () => {
  const needed = [
    'inventory_entry', 'core_entry', 'thread_info_x86', 'user_x86_regs_entry', 'user_x86_xsave_entry',
    'pagemap_head', 'pagemap_entry', 'pstree_entry', 'file_entry', 'fdinfo_entry', 'reg_file_entry',
    'mm_entry', 'vma_entry', 'fs_entry', 'task_kobj_ids_entry', 'seccomp_entry', 'timens_entry',
    'stats_entry', 'memfd_inode_entry', 'sk_packet_entry', 'pipe_data_entry', 'creds_entry',
  ];
  for (const name of needed) assert.ok(schemaMessages.has(name), `${name} missing`);
});

test('every message reference resolves to the exported message of that name', () => {
  for (const { m, f } of allFields) {
    if (!isMessageType(f.type)) continue;
    const target = f.type();
    assert.ok(target && target.kind === 'message', `${where(m, f)}: thunk gives no message`);
    assert.equal(schemaMessages.get(target.name), target, `${where(m, f)}: ${target.name} is not exported`);
  }
});

test('every enum reference is an exported enum and every other type a scalar', () => {
  for (const { m, f } of allFields) {
    if (isMessageType(f.type)) continue;
    if (isEnumType(f.type)) {
      assert.equal(schemaEnums.get(f.type.name), f.type, `${where(m, f)}: enum ${f.type.name} is not exported`);
    } else {
      assert.ok(SCALARS.has(f.type), `${where(m, f)}: unknown type ${String(f.type)}`);
    }
  }
});

test('field numbers and names are valid and unique within each message, sorted by number', () => {
  for (const m of messages) {
    assert.ok(m.fields.length > 0, `${m.name} has no fields`);
    const numbers = new Set<number>();
    const names = new Set<string>();
    let last = 0;
    for (const f of m.fields) {
      assert.ok(Number.isInteger(f.no) && f.no >= 1 && f.no < 2 ** 29, `${where(m, f)}: bad number`);
      assert.ok(f.no < 19000 || f.no > 19999, `${where(m, f)}: number reserved by protobuf`);
      assert.ok(f.no > last, `${m.name}: fields not sorted or number ${f.no} repeated`);
      last = f.no;
      assert.match(f.name, /^[A-Za-z_][A-Za-z0-9_]*$/, `${where(m, f)}: bad name`);
      assert.ok(!numbers.has(f.no), `${where(m, f)}: duplicate number`);
      assert.ok(!names.has(f.name), `${where(m, f)}: duplicate name`);
      numbers.add(f.no);
      names.add(f.name);
      assert.ok(['required', 'optional', 'repeated'].includes(f.label), `${where(m, f)}: bad label`);
    }
  }
});

test('enum values are int32 with unique names', () => {
  for (const e of enums) {
    const entries = Object.entries(e.values);
    assert.ok(entries.length > 0, `${e.name} is empty`);
    for (const [name, v] of entries) {
      assert.match(name, /^[A-Za-z_][A-Za-z0-9_]*$/, `${e.name}.${name}: bad name`);
      assert.ok(Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31, `${e.name}.${name}: not an int32`);
    }
  }
});

test('crit options sit on fields they can apply to', () => {
  const known = new Set(['hex', 'ipadd', 'flags', 'dev', 'odev', 'dict', 'conv', 'packed']);
  for (const { m, f } of allFields) {
    const o = f.opts;
    for (const k of Object.keys(o)) assert.ok(known.has(k), `${where(m, f)}: unknown option ${k}`);
    if (o.hex) assert.ok(INTEGERS.has(f.type) || isMessageType(f.type), `${where(m, f)}: hex on a non-integer`);
    if (o.flags !== undefined) {
      assert.ok(INTEGERS.has(f.type), `${where(m, f)}: flags on a non-integer`);
      assert.match(o.flags, /^[a-z]+\.[a-z]+$/, `${where(m, f)}: odd flags table name`);
    }
    if (o.dev || o.odev) assert.ok(INTEGERS.has(f.type), `${where(m, f)}: dev on a non-integer`);
    if (o.odev) assert.ok(o.dev, `${where(m, f)}: odev without dev`);
    if (o.ipadd) assert.ok(f.type === 'uint32' && f.label === 'repeated', `${where(m, f)}: ipadd needs repeated uint32`);
    if (o.dict !== undefined) {
      assert.ok(o.dict === 'gen' || o.dict === 'sk', `${where(m, f)}: unknown dict ${o.dict}`);
      assert.ok(INTEGERS.has(f.type), `${where(m, f)}: dict on a non-integer`);
    }
    if (o.conv !== undefined) assert.ok(o.conv === 'unix_name' && f.type === 'bytes', `${where(m, f)}: bad conv`);
    if (o.packed) {
      assert.equal(f.label, 'repeated', `${where(m, f)}: packed on a non-repeated field`);
      assert.ok(INTEGERS.has(f.type) || isEnumType(f.type) || ['bool', 'float', 'double'].includes(f.type as string),
        `${where(m, f)}: packed on a length-delimited type`);
    }
  }
});

test('nested enums are exported and used by the message that declares them', () => {
  for (const [enumName, parent] of Object.entries(nestedEnums)) {
    const e = schemaEnums.get(enumName);
    const m = schemaMessages.get(parent);
    assert.ok(e && m, `${parent}.${enumName} not exported`);
    assert.ok(m.fields.some((f) => f.type === e), `${parent} does not use ${enumName}`);
  }
});

test('proto2 defaults name real fields and fit their types', () => {
  for (const [mname, defaults] of Object.entries(fieldDefaults)) {
    const m = schemaMessages.get(mname);
    assert.ok(m, `defaults for unknown message ${mname}`);
    for (const [fname, value] of Object.entries(defaults)) {
      const f: FieldDef | undefined = m.fields.find((x) => x.name === fname);
      assert.ok(f, `default for unknown field ${mname}.${fname}`);
      assert.notEqual(f.label, 'repeated', `${where(m, f)}: default on a repeated field`);
      if (f.type === 'bool') assert.equal(typeof value, 'boolean', `${where(m, f)}`);
      else if (isEnumType(f.type)) assert.ok(Object.values(f.type.values).includes(value as number), `${where(m, f)}`);
      else {
        assert.ok(INTEGERS.has(f.type), `${where(m, f)}: default on an unexpected type`);
        assert.equal(typeof value, 'number', `${where(m, f)}`);
        if (String(f.type).startsWith('u') || String(f.type).startsWith('fixed')) assert.ok((value as number) >= 0, `${where(m, f)}`);
      }
    }
  }
});

/** Each flags/dict option that names no table of src/images/flags.ts (crit-json.ts would print plain numbers). */
function missingTables(fields: readonly { m: MessageDef; f: FieldDef }[]): string[] {
  const out: string[] = [];
  for (const { m, f } of fields) {
    if (f.opts.flags !== undefined && !Object.hasOwn(flagTables, f.opts.flags)) out.push(`${where(m, f)}: no flag table ${f.opts.flags}`);
    // A dict group is looked up by the field's own name.
    if (f.opts.dict !== undefined && !(Object.hasOwn(dictGroups, f.opts.dict) && Object.hasOwn(dictGroups[f.opts.dict]!, f.name))) {
      out.push(`${where(m, f)}: no table ${f.name} in dict group ${f.opts.dict}`);
    }
  }
  return out;
}

test('flags and dict options name tables of src/images/flags.ts', () => {
  assert.ok(allFields.some(({ f }) => f.opts.flags !== undefined) && allFields.some(({ f }) => f.opts.dict !== undefined));
  assert.deepEqual(missingTables(allFields), []);
});

test('a flags or dict option naming no table is found', () => {
  const m = schemaMessages.get('vma_entry')!;
  const prot = m.fields.find((f) => f.opts.flags !== undefined)!;
  const bad = [
    { m, f: { ...prot, opts: { ...prot.opts, flags: 'mmap.no_such_table' } } },
    { m, f: { ...prot, name: 'no_such_field', opts: { dict: 'sk' } } },
    { m, f: { ...prot, opts: { dict: 'no_such_group' } } },
  ];
  assert.equal(missingTables(bad).length, 3, missingTables(bad).join('\n'));
});
