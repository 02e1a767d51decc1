/**
 * queue: the same Chroma -> pgvector VECTORS job run by the in-process runner and as BullMQ partitions by
 * 1 and by 2 worker processes (MIGRATION_QUEUE=bullmq): what scaling out buys on this machine.
 */
import type { MigrationQueueConfig, VectorDbConfig } from '@switchyard/core';
import { MigrationService } from '@switchyard/migration';
import { createRelationalDb } from '@switchyard/relational-db';
import { createVectorDb } from '@switchyard/vector-db';
import * as path from 'node:path';
import { log, quietLogger, report, toConnection } from './common';
import { migrate } from './job';
import { MODEL } from './vectors';

export interface QueueArgs {
  chromaUrl: string;
  collection: string;
  pgUrl: string;
  dims: number;
  dataDir: string;
  /** Absent: the in-process runner. */
  queue?: MigrationQueueConfig;
}

const sourceOf = (a: QueueArgs): VectorDbConfig => ({ provider: 'chromadb', url: a.chromaUrl, dimensions: a.dims, collection: a.collection });

/** The coordinator: starts the job (queued, or in this process), waits for it, reports its time. */
export async function queueJob(a: QueueArgs): Promise<void> {
  const r = await migrate({ pgUrl: a.pgUrl, vector: { dims: a.dims, model: MODEL }, source: { vector: sourceOf(a) }, dataDir: a.dataDir, queue: a.queue, input: { kind: 'VECTORS', source: 'source', onConflict: 'FAIL' } });
  const q = r.job.progress?.queue;
  log(`queue: ${r.written} records in ${r.ms} ms${q ? ` as ${q.partitions} partitions (${q.attempts} attempts)` : ' in-process'}, verification ${r.job.verification?.ok ? 'ok' : 'FAILED'}`);
  report({ items: r.written, ms: r.ms, breakdown: { ...r.phases, partitions: q?.partitions ?? 0, attempts: q?.attempts ?? 0 } });
}

/** A worker process: runs partitions until SIGTERM (what `switchyard worker` does). */
export async function queueWorker(a: QueueArgs): Promise<void> {
  const conn = toConnection(a.pgUrl);
  const relational = createRelationalDb({ provider: 'postgres', logging: false, ...conn });
  await relational.init();
  const vector = createVectorDb({ provider: 'pgvector', connection: conn, dimensions: a.dims, collection: 'vector_embeddings' }, MODEL);
  await vector.init();
  const source = { name: 'source', relational: { provider: 'sqlite' as const, database: path.join(a.dataDir, 'unused.sqlite'), logging: false }, vector: sourceOf(a) };
  const svc = new MigrationService({ target: { relational, vector }, profiles: { source }, dataDir: a.dataDir, defaultBatchSize: 1000, queue: a.queue, logger: quietLogger });
  const worker = svc.startWorker();
  process.stdout.write(`${JSON.stringify({ ready: process.pid })}\n`);
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await worker.close();
  await svc.close();
  await vector.close();
  await relational.close();
}
