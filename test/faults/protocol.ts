import type { ProviderProfile, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import type { StartMigrationInput } from '@switchyard/migration';

/**
 * What the harness and a runner child (runner-child.ts) say to each other: one JSON object per line,
 * requests on the child's stdin, events on its stdout.
 */

/** The active providers of the runner (the migration target) and its migration settings. */
export interface RunnerConfig {
  target: { relational: RelationalDbConfig; vector: VectorDbConfig; model: string | null };
  profiles: Record<string, ProviderProfile>;
  dataDir: string;
  staleAfterMs: number;
  defaultBatchSize: number;
}

export type Request =
  | { seq: number; op: 'open'; config: RunnerConfig }
  | { seq: number; op: 'start'; input: StartMigrationInput }
  | { seq: number; op: 'resume'; id: string }
  | { seq: number; op: 'close' };

/** A request without its sequence number (the sender adds it). */
export type RequestBody = { [K in Request['op']]: Omit<Extract<Request, { op: K }>, 'seq'> }[Request['op']];

/**
 * Where a job is, as seen from the calls it makes on the target (the child wraps the target's
 * RelationalDb / VectorDb): backup, truncate, copy (a batch write), checkpoint (just after a batch write
 * returned: the checkpoint of that batch is being committed), index (HNSW build), verify.
 */
export type Phase = 'backup' | 'truncate' | 'copy' | 'checkpoint' | 'index' | 'verify';
export const PHASES: readonly Phase[] = ['backup', 'truncate', 'copy', 'checkpoint', 'index', 'verify'];
/** Order of phases in a job; copy and checkpoint alternate (same rank). */
export const PHASE_RANK: Record<Phase, number> = { backup: 0, truncate: 1, copy: 2, checkpoint: 2, index: 3, verify: 4 };

/** A finished job as the child saw it. */
export interface JobSummary {
  id: string;
  status: string;
  errorCode: string | null;
  error: string | null;
  verificationOk: boolean | null;
  backups: { step: string; kind: string; name: string; rows: number }[];
}

export type ChildEvent =
  | { ev: 'ready' }
  | { ev: 'reply'; seq: number; ok: true; jobId?: string }
  | { ev: 'reply'; seq: number; ok: false; code: string; message: string; jobId?: string }
  | { ev: 'phase'; phase: Phase; call: string; n: number }
  | { ev: 'finished'; job: JobSummary }
  | { ev: 'log'; level: 'log' | 'warn' | 'error'; message: string };
