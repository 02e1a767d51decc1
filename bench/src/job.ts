import type { MigrationQueueConfig, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import type { Embeddings } from '@switchyard/embeddings';
import { ChunkFn, MigrationJob, MigrationService, StartMigrationInput } from '@switchyard/migration';
import { createRelationalDb } from '@switchyard/relational-db';
import { createVectorDb, PgvectorVectorDb } from '@switchyard/vector-db';
import * as path from 'node:path';
import { Intervals, log, now, quietLogger, since, timeCalls, toConnection } from './common';

export interface JobRun {
  job: MigrationJob;
  /** Job wall time split by the phase the job reported: copy (incl. plan, index build) and verify. */
  phases: { jobMs: number; copyMs: number; verifyMs: number };
  /** performance.now() at start, when verification began, and at the end. */
  marks: { start: number; verify: number; end: number };
}

/** Starts a migration job, follows its progress events, waits for it and fails unless it SUCCEEDED with a passing verification. */
export async function runJob(svc: MigrationService, input: StartMigrationInput): Promise<JobRun> {
  const t0 = now();
  let tVerify = 0;
  let lastLog = t0;
  const job = await svc.start(input);
  const off = svc.subscribe(job.id, (j) => {
    const t = now();
    if (!tVerify && j.progress?.phase === 'verify') tVerify = t;
    if (t - lastLog > 5000 && j.progress) {
      lastLog = t;
      log(`${j.kind} ${j.progress.phase}: ${j.progress.done}/${j.progress.total} (${j.progress.ratePerSecond}/s)`);
    }
  });
  const done = await svc.waitFor(job.id);
  off();
  const t1 = now();
  if (done.status !== 'SUCCEEDED') throw new Error(`job ${done.id} ended ${done.status}: ${done.errorCode}: ${done.error}`);
  if (!done.verification?.ok) throw new Error(`job ${done.id} succeeded but its verification failed: ${JSON.stringify(done.verification)}`);
  const verifyAt = tVerify || t1;
  return { job: done, phases: { jobMs: round(t1 - t0), copyMs: round(verifyAt - t0), verifyMs: round(t1 - verifyAt) }, marks: { start: t0, verify: verifyAt, end: t1 } };
}

const round = (x: number) => Math.round(x * 10) / 10;

export interface MigrateOptions {
  /** The target database (relational tables and the pgvector collection `vector_embeddings`). */
  pgUrl: string;
  /** The target vector store's dimensions and embedding model. */
  vector: { dims: number; model: string | null };
  /** The source profile `source`; a side left out points at an unused SQLite file. */
  source?: { relational?: RelationalDbConfig; vector?: VectorDbConfig };
  embeddings?: Embeddings;
  chunk?: ChunkFn;
  dataDir: string;
  input: StartMigrationInput;
  /** MIGRATION_QUEUE=bullmq: the job runs as partitions on queue workers (the queue benchmark). */
  queue?: MigrationQueueConfig;
}

/**
 * Opens the target the way the app does (schema migrations, vector collection), runs one job through a
 * MigrationService over it, closes everything. `openMs`: opening the target; `ms`: open + job + close.
 */
export async function migrate(o: MigrateOptions): Promise<JobRun & { openMs: number; ms: number; written: number }> {
  const t0 = now();
  const conn = toConnection(o.pgUrl);
  const relational = createRelationalDb({ provider: 'postgres', logging: false, ...conn });
  await relational.init();
  const vector = createVectorDb({ provider: 'pgvector', connection: conn, dimensions: o.vector.dims, collection: 'vector_embeddings' }, o.vector.model);
  await vector.init();
  const openMs = since(t0);
  const source = {
    name: 'source',
    relational: o.source?.relational ?? { provider: 'sqlite' as const, database: path.join(o.dataDir, 'unused.sqlite'), logging: false },
    vector: o.source?.vector ?? { provider: 'sqlite-vec' as const, path: path.join(o.dataDir, 'unused-vec.sqlite'), dimensions: o.vector.dims, collection: 'vector_embeddings' },
  };
  const svc = new MigrationService({ target: { relational, vector }, embeddings: o.embeddings, chunk: o.chunk, profiles: { source }, dataDir: o.dataDir, defaultBatchSize: o.input.batchSize ?? 1000, queue: o.queue, logger: quietLogger });
  try {
    const r = await runJob(svc, o.input);
    await svc.close();
    await vector.close();
    await relational.close();
    return { ...r, openMs, ms: since(t0), written: r.job.progress!.steps.reduce((n, s) => n + s.written, 0) };
  } catch (e) {
    await Promise.allSettled([svc.close(), vector.close(), relational.close()]);
    throw e;
  }
}

/** Instrumentation only (behaviour unchanged): when the pgvector target writes a batch, and its index build. */
export function instrumentPgvector(): { writes: Intervals; index: Intervals } {
  const t = { writes: [] as Intervals, index: [] as Intervals };
  timeCalls(PgvectorVectorDb.prototype, 'doUpsert', t.writes);
  timeCalls(PgvectorVectorDb.prototype, 'doInsertNew', t.writes);
  timeCalls(PgvectorVectorDb.prototype, 'finishBulkLoad', t.index);
  return t;
}
