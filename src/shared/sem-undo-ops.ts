// The semop(2) operations that give the calling process undo values (SEM_UNDO adjustments) for
// a semaphore set: per semaphore, op -A with SEM_UNDO (its undo value grows by A, the semaphore
// changes by -A, which undoes an exit that applied A) and, to leave the semaphore as it is, op +A
// without, the raising one first so that none blocks; all in one atomic call, IPC_NOWAIT so that
// nothing waits.
import { writeI16, writeU16 } from '../sys/native-endian.js';
import { IPC_NOWAIT } from './sysv-ipc.js';

export const SEM_UNDO = 0x1000;
/** struct sembuf { unsigned short sem_num; short sem_op; short sem_flg; } */
export const SEMBUF_SIZE = 6;

/** The sembuf array for undo values `semadj` (one per semaphore of the set; zeros are skipped); `keepValues`: with the compensating ops. */
export function undoOps(semadj: readonly number[], keepValues: boolean): Buffer {
  const ops: [number, number, number][] = [];
  semadj.forEach((a, i) => {
    if (a === 0) return;
    const withUndo: [number, number, number] = [i, -a, SEM_UNDO | IPC_NOWAIT];
    const plain: [number, number, number] = [i, a, IPC_NOWAIT];
    if (!keepValues) ops.push(withUndo);
    else ops.push(...(a > 0 ? [plain, withUndo] : [withUndo, plain]));
  });
  const b = Buffer.alloc(ops.length * SEMBUF_SIZE);
  ops.forEach(([n, op, flg], i) => {
    writeU16(b, n, i * SEMBUF_SIZE);
    writeI16(b, op, i * SEMBUF_SIZE + 2);
    writeI16(b, flg, i * SEMBUF_SIZE + 4);
  });
  return b;
}
