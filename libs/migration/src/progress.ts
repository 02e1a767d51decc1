import type { MigrationCheckpointEntity } from '@switchyard/relational-db';
import type { MigrationProgress, StepProgress } from './migration.types';

export type Checkpoint = Pick<MigrationCheckpointEntity, 'jobId' | 'step' | 'cursor' | 'done' | 'total' | 'finished'>;

/** Progress of a run, carrying over the counters of earlier runs of the job (pure). */
export function initialProgress(names: string[], totals: number[], checkpoints: Map<string, Checkpoint>, previous: StepProgress[]): MigrationProgress {
  const steps = names.map((name, i): StepProgress => {
    const p = previous.find((x) => x.name === name);
    const cp = checkpoints.get(name)!;
    return {
      name,
      total: totals[i],
      read: cp.done,
      written: p?.written ?? 0,
      skipped: p?.skipped ?? 0,
      ...(p?.unchanged ? { unchanged: p.unchanged } : {}),
      errors: p?.errors ?? 0,
      ms: p?.ms ?? 0,
      finished: cp.finished,
      rejected: p?.rejected ?? [],
      targetBefore: p?.targetBefore ?? null,
    };
  });
  return { total: totals.reduce((a, b) => a + b, 0), done: steps.reduce((n, s) => n + s.read, 0), ratePerSecond: 0, etaSeconds: null, phase: 'copy', steps };
}

/** Rate of this run (units per second, one decimal) and the ETA of the rest (pure). */
export function rateAndEta(total: number, done: number, doneThisRun: number, elapsedMs: number): { ratePerSecond: number; etaSeconds: number | null } {
  const secs = elapsedMs / 1000;
  const ratePerSecond = secs > 0 ? Math.round((doneThisRun / secs) * 10) / 10 : 0;
  return { ratePerSecond, etaSeconds: ratePerSecond > 0 ? Math.round(Math.max(0, total - done) / ratePerSecond) : null };
}

/** One line per step, pgloader-style. */
export function summary(p: MigrationProgress): string {
  return p.steps.map((s) => `${s.name}: read ${s.read}, written ${s.written}, skipped ${s.skipped}, rejected ${s.errors}, ${s.ms} ms`).join('; ');
}
