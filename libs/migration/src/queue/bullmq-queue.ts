import { MigrationQueueConfig, SwitchyardError } from '@switchyard/core';
import { FlowProducer, Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MigrationLogger } from '../migration.types';
import type { PartitionQueue } from './queued-job';
import { PartitionTask, PartitionWorker, RateLimiter, RunGone } from './partition-worker';

/** The queue of partitions (children) and of migrations (one parent per run of a job). */
const PARTITIONS = 'migration-partitions';
const RUNS = 'migration-runs';

const parentId = (jobId: string, runId: string) => `${jobId}.${runId}`;

/**
 * Workers block on Redis and ride out its restarts (no per-request retry limit: BullMQ's requirement for
 * workers). The coordinator must not: a Redis that is down fails its calls fast (the job FAILS with
 * PROVIDER_UNAVAILABLE and stays resumable) instead of queueing them forever.
 */
function connect(cfg: MigrationQueueConfig, role: 'worker' | 'coordinator'): IORedis {
  if (!cfg.redisUrl) throw new Error('MIGRATION_QUEUE=bullmq needs REDIS_URL');
  return role === 'worker' ? new IORedis(cfg.redisUrl, { maxRetriesPerRequest: null }) : new IORedis(cfg.redisUrl, { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: 5000, commandTimeout: 10_000 });
}

/** A Redis call of the coordinator, bounded (ioredis' own timeouts do not cover a connection being set up). */
async function bounded<T>(what: string, fn: () => Promise<T>, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`Redis did not answer ${what} within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
      }),
    ]);
  } catch (e) {
    throw new SwitchyardError('PROVIDER_UNAVAILABLE', `the migration queue (Redis) failed to ${what}: ${e instanceof Error ? e.message : String(e)}; the job stays resumable once Redis answers`, {}, { cause: e });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The coordinator's side: a run's partitions as one BullMQ flow (a parent job for the run, a child per
 * partition, retried with exponential backoff; a child that fails for good fails the parent).
 */
export class BullmqPartitionQueue implements PartitionQueue {
  private readonly redis: IORedis;
  private readonly flows: FlowProducer;
  private readonly runs: Queue;
  private readonly parts: Queue;

  constructor(private readonly cfg: MigrationQueueConfig) {
    this.redis = connect(cfg, 'coordinator');
    this.redis.on('error', () => undefined);
    this.flows = new FlowProducer({ connection: this.redis, prefix: cfg.prefix });
    this.runs = new Queue(RUNS, { connection: this.redis, prefix: cfg.prefix });
    this.parts = new Queue(PARTITIONS, { connection: this.redis, prefix: cfg.prefix });
    // Connection errors surface through the calls below (bounded); not as unhandled 'error' events.
    for (const q of [this.runs, this.parts]) q.on('error', () => undefined);
    this.flows.on('error', () => undefined);
  }

  async enqueue(jobId: string, runId: string, tasks: PartitionTask[]): Promise<void> {
    await bounded('queue the partitions', () => this.add(jobId, runId, tasks));
  }

  private async add(jobId: string, runId: string, tasks: PartitionTask[]): Promise<void> {
    await this.flows.add({
      name: 'migration',
      queueName: RUNS,
      data: { jobId, runId },
      opts: { jobId: parentId(jobId, runId), removeOnComplete: { age: 86_400 }, removeOnFail: { age: 7 * 86_400 } },
      children: tasks.map((t) => ({
        name: 'partition',
        queueName: PARTITIONS,
        data: t,
        opts: {
          jobId: `${parentId(jobId, runId)}.${t.idx}`,
          attempts: this.cfg.attempts,
          backoff: { type: 'exponential', delay: 1000 },
          failParentOnFailure: true,
          removeOnComplete: { age: 86_400 },
          removeOnFail: { age: 7 * 86_400 },
        },
      })),
    });
  }

  state(jobId: string, runId: string): Promise<{ state: 'running' | 'completed' | 'failed'; reason?: string }> {
    return bounded('report the partitions\' state', () => this.stateNow(jobId, runId));
  }

  private async stateNow(jobId: string, runId: string): Promise<{ state: 'running' | 'completed' | 'failed'; reason?: string }> {
    const parent = await Job.fromId(this.runs, parentId(jobId, runId));
    if (!parent) return { state: 'failed', reason: `the run's flow ${parentId(jobId, runId)} is gone from Redis (flushed, or another prefix)` };
    const state = await parent.getState();
    if (state === 'completed') return { state: 'completed' };
    if (state === 'failed') return { state: 'failed', reason: parent.failedReason };
    return { state: 'running' };
  }

  async discard(jobId: string, runId: string, idxs: number[]): Promise<void> {
    await bounded('drop the partitions', async () => {
      // By id (a child's id is its run's and its index): the children no worker holds go; a held one
      // cannot be removed and ends at its worker's next page (its partition is stopped).
      for (const job of await this.children(jobId, runId, idxs)) if (!(await job.isActive())) await job.remove().catch(() => undefined);
      const parent = await Job.fromId(this.runs, parentId(jobId, runId));
      await parent?.remove({ removeChildren: true }).catch(() => undefined);
    });
  }

  async active(jobId: string, runId: string, idxs: number[]): Promise<number> {
    return bounded('list the partitions being run', async () => {
      let n = 0;
      for (const job of await this.children(jobId, runId, idxs)) if (await job.isActive()) n++;
      return n;
    });
  }

  private async children(jobId: string, runId: string, idxs: number[]): Promise<Job[]> {
    const out: Job[] = [];
    for (let i = 0; i < idxs.length; i += 100) {
      const got = await Promise.all(idxs.slice(i, i + 100).map((idx) => Job.fromId(this.parts, `${parentId(jobId, runId)}.${idx}`)));
      for (const j of got) if (j) out.push(j);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.flows.close(), this.runs.close(), this.parts.close()]);
    this.redis.disconnect();
  }
}

/** MIGRATION_RATE_LIMIT over every worker: a counter per job and second in Redis. */
class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: IORedis,
    private readonly prefix: string,
    private readonly perSecond: number,
  ) {}

  async take(jobId: string, n: number): Promise<void> {
    for (;;) {
      const second = Math.floor(Date.now() / 1000);
      const key = `${this.prefix}:rate:${jobId}:${second}`;
      const used = await this.redis.incrby(key, n);
      await this.redis.expire(key, 5);
      // A page larger than the limit goes alone, in a second of its own.
      if (used <= this.perSecond || used === n) return;
      await this.redis.decrby(key, n);
      await sleep(1000 - (Date.now() % 1000) + 5);
    }
  }
}

export interface WorkerHandle {
  close(): Promise<void>;
}

/**
 * A worker process's side: runs partitions (MIGRATION_WORKER_CONCURRENCY at once) and the runs' parents.
 * A worker that dies holding a partition loses it after MIGRATION_QUEUE_LOCK_MS (BullMQ's stalled-job
 * check), and another worker runs it again from its last committed page.
 */
export function startQueueWorkers(cfg: MigrationQueueConfig, partitions: (limiter?: RateLimiter) => PartitionWorker, logger: MigrationLogger): WorkerHandle {
  const redis = connect(cfg, 'worker');
  const limiter = cfg.rateLimit > 0 ? new RedisRateLimiter(redis, cfg.prefix, cfg.rateLimit) : undefined;
  const handler = partitions(limiter);
  const common = {
    connection: redis,
    prefix: cfg.prefix,
    lockDuration: cfg.lockMs,
    stalledInterval: Math.max(500, Math.floor(cfg.lockMs / 2)),
    // A partition whose worker died is retried, not failed (a death is not the partition's fault).
    maxStalledCount: cfg.attempts,
  };
  const work = new Worker<PartitionTask>(
    PARTITIONS,
    async (job) => {
      try {
        const r = await handler.run(job.data);
        return r ? { sourceCount: r.sourceCount, ms: r.ms } : { done: 'before' };
      } catch (e) {
        if (e instanceof RunGone) throw new UnrecoverableError(e.message);
        logger.warn(`partition ${job.data.idx} of job ${job.data.jobId} failed (attempt ${job.attemptsMade + 1} of ${cfg.attempts}): ${e instanceof Error ? e.message : String(e)}`);
        throw e;
      }
    },
    { ...common, concurrency: cfg.concurrency },
  );
  const runs = new Worker(RUNS, async (job) => ({ partitions: Object.keys(await job.getChildrenValues()).length }), { ...common, concurrency: 1 });
  for (const w of [work, runs]) w.on('error', (e) => logger.error(`queue worker: ${e.message}`));
  return {
    async close() {
      await Promise.all([work.close(), runs.close()]);
      redis.disconnect();
    },
  };
}

/**
 * The migration queues for a dashboard (bull-board at /console/queues): their own Redis connection,
 * which fails fast while Redis is down (a dashboard must not hang the app), closed by `close()`.
 */
export function dashboardQueues(cfg: MigrationQueueConfig): { queues: Queue[]; close(): Promise<void> } {
  const redis = connect(cfg, 'coordinator');
  redis.on('error', () => undefined);
  const queues = [RUNS, PARTITIONS].map((name) => new Queue(name, { connection: redis, prefix: cfg.prefix }));
  for (const q of queues) q.on('error', () => undefined);
  return {
    queues,
    close: async () => {
      await Promise.all(queues.map((q) => q.close().catch(() => undefined)));
      redis.disconnect();
    },
  };
}
