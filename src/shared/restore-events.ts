// Progress of a restore, as typed events for the library's onEvent callback.

export type RestorePhase =
  | 'images' | 'preflight' | 'stub' | 'memory' | 'files' | 'task-state' | 'resume' | 'running';

export type RestoreEvent =
  | { type: 'phase'; phase: RestorePhase; pid: number }
  | { type: 'warning'; message: string };
