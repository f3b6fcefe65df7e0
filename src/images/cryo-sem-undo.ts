/**
 * cryo-sem-undo.img: the System V semaphore adjustments each process would have applied on exit
 * (semop with SEM_UNDO), which CRIU's images have no place for (CRIU drops them). Same framing
 * as cryo's other images: u32 magic, then u32 size + protobuf message per entry.
 *
 *   message cryo_sem_undo_entry {
 *     required uint32 pid = 1;      // the process whose undo list it is
 *     required uint32 semid = 2;    // the set (restored with this id)
 *     repeated sint32 semadj = 3;   // per semaphore of the set, what its exit adds
 *   }
 */
import path from 'node:path';
import { message, req, rep } from './schema.js';
import { readCryoImage, writeCryoImage } from './cryo-framing.js';

export const CRYO_SEM_UNDO_IMAGE = 'cryo-sem-undo.img';
/** 'CRYU' read as a little-endian u32. */
export const CRYO_SEM_UNDO_MAGIC = 0x55595243;

export const cryo_sem_undo_entry = message('cryo_sem_undo_entry', [req(1, 'pid', 'uint32'), req(2, 'semid', 'uint32'), rep(3, 'semadj', 'sint32')]);

export interface SemUndo {
  pid: number;
  semid: number;
  semadj: number[];
}

export function writeSemUndo(dir: string, list: readonly SemUndo[]): void {
  writeCryoImage(path.join(dir, CRYO_SEM_UNDO_IMAGE), CRYO_SEM_UNDO_MAGIC, cryo_sem_undo_entry, list.map((u) => ({ pid: u.pid, semid: u.semid, semadj: u.semadj })));
}

/** The dump's undo lists; empty when it has none (or was made by CRIU). */
export function readSemUndo(dir: string): SemUndo[] {
  const es = readCryoImage(path.join(dir, CRYO_SEM_UNDO_IMAGE), CRYO_SEM_UNDO_MAGIC, cryo_sem_undo_entry, 'cryo-sem-undo') ?? [];
  return es.map((v) => ({ pid: Number(v.pid), semid: Number(v.semid), semadj: ((v.semadj as number[] | undefined) ?? []).map(Number) }));
}
