// The in-memory form of a decoded protobuf message, shared by the codec, the
// JSON form and every caller: present fields only, in field-number order.
//   32-bit integers -> number, 64-bit integers -> bigint, bool -> boolean,
//   string -> string, bytes -> Buffer, enum -> its name, message -> object,
//   repeated -> array. An absent optional field is an absent key.

export type ScalarValue = number | bigint | boolean | string | Buffer;
export type FieldValue = ScalarValue | MessageValue | FieldValue[];
export interface MessageValue {
  [field: string]: FieldValue;
}
