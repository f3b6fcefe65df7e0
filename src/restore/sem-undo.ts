// System V semaphore undo values (cryo-sem-undo.img, sem-undo-ops.ts): each restored process makes
// the semop calls that give it its dumped undo values, once its sets exist again, leaving the
// semaphores' values as the dump found them.
import type { TaskCtx } from '../shared/task-ctx.js';
import { RestoreError } from '../shared/restore-error.js';
import { errnoName } from '../sys/index.js';
import { SEMBUF_SIZE, undoOps } from '../shared/sem-undo-ops.js';
import type { SemUndo } from '../images/cryo-sem-undo.js';

export function restoreSemUndo(ctx: TaskCtx, all: readonly SemUndo[]): void {
  for (const u of all.filter((x) => x.pid === ctx.pid)) {
    // The sets came back with the values the dump found: they stay.
    const ops = undoOps(u.semadj, true);
    if (ops.length === 0) continue;
    const r = ctx.raw('semtimedop', u.semid, ctx.put(ops, 0), ops.length / SEMBUF_SIZE, 0);
    if (r < 0n) {
      throw new RestoreError('FAILED', `${errnoName(Number(-r))} from semop giving process ${ctx.pid} its undo values for semaphore set ${u.semid} (${u.semadj.join(' ')}, cryo-sem-undo.img)`);
    }
  }
}
