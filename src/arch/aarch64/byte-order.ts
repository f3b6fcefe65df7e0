// aarch64 Linux runs little-endian almost everywhere (big-endian kernels exist); kernel buffers are the host's.
import { endianness } from 'node:os';
import { regtableFor, type ByteOrder } from '../regtable.js';

export const BYTE_ORDER: ByteOrder = endianness() === 'LE' ? 'LE' : 'BE';
const table = regtableFor(BYTE_ORDER);
export const readField = table.readField;
export const writeField = table.writeField;
export const decodeTable = table.decodeTable;
export const encodeTable = table.encodeTable;
