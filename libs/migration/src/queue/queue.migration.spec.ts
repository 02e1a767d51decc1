import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import IORedis from 'ioredis';
import { Client } from 'pg';
import type { MigrationQueueConfig, PostgresConnection, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { MigrationPartitionEntity, RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { spawnTs } from '../../../../test/support/child';
import { freshDir, freshPostgres, serviceEnv } from '../../../../test/support/services';
import { makeRecords } from '../../../vector-db/src/testing/records';
import { MigrationService } from '../migration.service';
import type { MigrationJob } from '../migration.types';
import { openRelational, openVector, profile, quietLogger } from '../testing/fixtures';
import type { WorkerConfig } from '../testing/queue-worker-child';

const CHILD = path.join(__dirname, '..', 'testing', 'queue-worker-child.ts');
/** 50k vectors, as the issue asks; QUEUE_TEST_VECTORS makes it smaller or larger. */
const N = Number(process.env.QUEUE_TEST_VECTORS ?? 50_000);
const DIMS = 16;
const PARTITIONS = 20;

/**
 * A VECTORS job Chroma -> pgvector as BullMQ partitions on a real Redis, run by three real worker
 * processes, one of which is SIGKILLed twice while it holds a partition (and started again after each
 * kill): the job ends SUCCEEDED with its verification (computed from the partitions' checksums) passed,
 * every record in the target exactly once, and the dead worker's partitions retried by others.
 */
describe('queued VECTORS job: 3 worker processes, one SIGKILLed twice (real Redis, Chroma, PostgreSQL)', () => {
  const dir = freshDir('sy-queue-');
  const chromaUrl = serviceEnv('TEST_CHROMA_URL');
  const redisUrl = serviceEnv('REDIS_URL');
  const collection = `q_src_${randomBytes(4).toString('hex')}`;
  const queue: MigrationQueueConfig = { kind: 'bullmq', redisUrl, prefix: `sy-test-${randomBytes(4).toString('hex')}`, partitionSize: Math.ceil(N / PARTITIONS), concurrency: 1, rateLimit: 0, lockMs: 2000, attempts: 10 };
  let drop: () => Promise<void>;
  let url: string;
  let conn: PostgresConnection;
  let relational: RelationalDb;
  let vector: VectorDb;
  let svc: MigrationService;
  let targetRel: RelationalDbConfig;
  let targetVec: VectorDbConfig;
  const sourceVec: VectorDbConfig = { provider: 'chromadb', url: chromaUrl, dimensions: DIMS, collection };
  const workers = new Set<ChildProcess>();

  beforeAll(async () => {
    const pg = await freshPostgres('queue');
    ({ drop, url, connection: conn } = pg);
    targetRel = { provider: 'postgres', logging: false, ...conn };
    targetVec = { provider: 'pgvector', connection: conn, dimensions: DIMS, collection: 'vector_embeddings' };
    const src = await openVector(sourceVec, 'model-q');
    const records = makeRecords(N, DIMS, { seed: 7, users: 8, prefix: 'q' });
    for (let i = 0; i < records.length; i += 5000) await src.upsert(records.slice(i, i + 5000));
    await src.close();
    relational = await openRelational(targetRel);
    vector = await openVector(targetVec, 'model-q');
    svc = new MigrationService({
      target: { relational, vector },
      profiles: { source: profile('source', { provider: 'sqlite', database: dir.file('unused.sqlite'), logging: false }, sourceVec) },
      dataDir: path.join(dir.dir, 'data'),
      defaultBatchSize: 500,
      queue,
      logger: quietLogger,
    });
  }, 300_000);

  afterAll(async () => {
    for (const w of workers) w.kill('SIGKILL');
    // The test's queues go with it (keys under its own prefix only).
    const redis = new IORedis(redisUrl, { maxRetriesPerRequest: 1 });
    const keys = await redis.keys(`${queue.prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await svc?.close();
    await vector?.close();
    await relational?.close();
    await drop?.();
    dir.remove();
  });

  function startWorker(): Promise<{ child: ChildProcess; pid: number; output: () => string }> {
    const cfg: WorkerConfig = { target: { relational: targetRel, vector: targetVec, model: 'model-q' }, profiles: { source: profile('source', { provider: 'sqlite', database: dir.file('unused.sqlite'), logging: false }, sourceVec) }, dataDir: path.join(dir.dir, 'worker-data'), queue };
    const { child, output } = spawnTs(CHILD, [JSON.stringify(cfg)]);
    workers.add(child);
    child.on('exit', () => workers.delete(child));
    return new Promise((resolve, reject) => {
      const t = setInterval(() => {
        const m = /\{"ready":(\d+)\}/.exec(output());
        if (m) {
          clearInterval(t);
          resolve({ child, pid: Number(m[1]), output });
        } else if (child.exitCode !== null) {
          clearInterval(t);
          reject(new Error(`worker exited: ${output()}`));
        }
      }, 50);
    });
  }

  /** Waits until `pid` holds a partition of the job (it is in the job's worker list), then SIGKILLs it. */
  async function killWhileWorking(jobId: string, w: { child: ChildProcess; pid: number; output: () => string }): Promise<{ job: MigrationJob; partition: number }> {
    for (;;) {
      const job = await svc.get(jobId);
      if (job.status !== 'RUNNING') {
        const parts = await relational.repository(MigrationPartitionEntity).find({ where: { jobId } });
        throw new Error(`the job ended (${job.status}) before worker ${w.pid} could be killed mid-partition; partitions by ${parts.map((p) => `${p.idx}:${p.worker}:${p.attempts}`).join(' ')}; ${w.output()}`);
      }
      const held = await relational.repository(MigrationPartitionEntity).find({ where: { jobId, status: 'RUNNING' } });
      const mine = held.find((p) => p.worker?.split("/").includes(String(w.pid)) && p.done > 0);
      if (mine) {
        w.child.kill('SIGKILL');
        await new Promise((r) => w.child.once('exit', r));
        return { job, partition: mine.idx };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('ends SUCCEEDED, verified from per-partition checksums, every record once, after two SIGKILLs of one worker', async () => {
    const [a] = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const started = await svc.start({ kind: 'VECTORS', source: 'source', onConflict: 'FAIL' });
    // Killed once, started again, killed again mid-partition.
    const first = await killWhileWorking(started.id, a);
    const a2 = await startWorker();
    await killWhileWorking(started.id, a2);
    const job = await svc.waitFor(started.id, 240_000);
    expect({ status: job.status, error: job.error }).toEqual({ status: 'SUCCEEDED', error: null });
    // The partitions the killed worker held mid-way were finished by another attempt.
    const parts = await relational.repository(MigrationPartitionEntity).find({ where: { jobId: started.id } });
    expect(parts.every((p) => p.status === 'DONE')).toBe(true);
    expect(parts.find((p) => p.idx === first.partition)!.attempts).toBeGreaterThan(1);
    const v = job.verification!;
    expect(v.ok).toBe(true);
    expect(v.tables).toEqual([expect.objectContaining({ sourceCount: N, targetCount: N, checksumMatch: true })]);
    expect(v.notes.join(' ')).toMatch(/verified as \d+ partition\(s\)/);
    expect(v.recallAt10).not.toBeNull();
    // The killed worker's partitions were retried: more attempts than partitions.
    expect(job.progress!.queue!.partitions).toBeGreaterThanOrEqual(PARTITIONS);
    expect(job.progress!.queue!.attempts).toBeGreaterThan(job.progress!.queue!.partitions);
    // Exactly once: every id of the source once in the target, and the HNSW index built.
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query('SELECT COUNT(*)::int AS n, COUNT(DISTINCT id)::int AS d FROM vector_embeddings');
      expect(r.rows[0]).toEqual({ n: N, d: N });
      const idx = await c.query(`SELECT indexdef FROM pg_indexes WHERE tablename = 'vector_embeddings' AND indexdef LIKE '%USING hnsw%'`);
      expect(idx.rows).toHaveLength(1);
    } finally {
      await c.end();
    }
    // The worker list named processes other than this one: the copy ran in the workers.
    expect(job.progress!.queue!.workers).toEqual([]);
  }, 300_000);
});
