// x86_64 is little-endian: its register tables are read and written so.
import { regtableFor, type ByteOrder } from '../regtable.js';

export const BYTE_ORDER: ByteOrder = 'LE';
const table = regtableFor(BYTE_ORDER);
export const readField = table.readField;
export const writeField = table.writeField;
export const decodeTable = table.decodeTable;
export const encodeTable = table.encodeTable;
