import { SwitchyardError } from '@switchyard/core';
import type { VectorRecord } from '@switchyard/vector-db';
import type { ContextBuilder, JobContext, Step } from '../job-context';
import { JobStore, TakenOver } from '../job-store';
import { Checksum } from '../checksum';
import type { DataReader } from '../datasets';
import { copyPages } from '../pipeline';
import { VectorCollection } from '../vector-collection';
import { PartitionResult, PartitionStore } from './partition-store';

/** One partition of one run of a job: what a queue message carries. */
export interface PartitionTask {
  jobId: string;
  runId: string;
  step: string;
  idx: number;
}

/** The job is no longer this run's, or no longer running (cancelled, failed, resumed elsewhere): retrying cannot help. */
export class RunGone extends SwitchyardError {
  constructor(message: string) {
    super('MIGRATION_STATE', message);
  }
}

/** Records per second over every worker of a job (MIGRATION_RATE_LIMIT): waits until `n` more fit. */
export interface RateLimiter {
  take(jobId: string, n: number): Promise<void>;
}

const SAMPLES_PER_PARTITION = 4;

/** A source that cuts itself into key ranges and reads one of them (a vector collection; a re-index's documents). */
export interface RangeSource<T> extends DataReader<T> {
  splitPoints(every: number): Promise<string[]>;
  range(after: string | undefined, until: string | undefined): DataReader<T>;
}

/** The source and target of a step that can run as key ranges (into a vector collection, compared by checksum), or null. */
export function rangeStep(step: Step): { source: RangeSource<VectorRecord>; target: VectorCollection } | null {
  const source = step.source as Partial<RangeSource<VectorRecord>>;
  const ranged = typeof source.splitPoints === 'function' && typeof source.range === 'function';
  return ranged && step.target instanceof VectorCollection && step.check ? { source: source as RangeSource<VectorRecord>, target: step.target } : null;
}

/** Up to `k` of `items`, spread evenly over them (the first always among them). */
export function evenly<T>(items: T[], k: number): T[] {
  const spacing = Math.max(1, Math.floor(items.length / k));
  return items.filter((_, i) => i % spacing === 0).slice(0, k);
}

/**
 * Runs one partition: copies its key range with writes by key (a retry overwrites what an attempt before
 * it wrote, so nothing is written twice), resuming after the range's last committed page, and records what
 * it copied (count and checksum as read, rejects, a few sample ids) with each page. Every commit is fenced
 * by the attempt's token (an attempt that lost it fails with PartitionFenced, which the queue retries);
 * every page first checks that the job is still this run's and running.
 */
export class PartitionWorker {
  constructor(
    private readonly deps: {
      contexts: ContextBuilder;
      store: JobStore;
      partitions: PartitionStore;
      owner: string;
      limiter?: RateLimiter;
    },
  ) {}

  async run(task: PartitionTask): Promise<PartitionResult | null> {
    const { store, partitions } = this.deps;
    // Before every page: the job is still this run's (the store's own fencing check) and running.
    const gone = async () => {
      const status = await store.assertRun(task.jobId, task.runId, null).catch((e) => {
        throw e instanceof TakenOver ? new RunGone(`job ${task.jobId} belongs to another run now; partition ${task.idx} of run ${task.runId} is dropped`) : e;
      });
      if (status !== 'RUNNING') throw new RunGone(`job ${task.jobId} is ${status}; partition ${task.idx} is not run`);
    };
    await gone();
    const job = await store.getEntity(task.jobId);
    const t0 = Date.now();
    let ctx: JobContext | undefined;
    try {
      ctx = await this.deps.contexts.build(job, { partition: true });
      if (ctx.refusal) throw ctx.refusal;
      const step = ctx.steps.find((s) => s.name === task.step);
      if (!step) throw new SwitchyardError('MIGRATION_STATE', `job ${task.jobId} has no step ${JSON.stringify(task.step)}`);
      const both = rangeStep(step);
      if (!both) throw new SwitchyardError('MIGRATION_STATE', `step ${step.name} cannot be partitioned: only a vector collection copy (VECTORS) or a re-index can`);
      const { source, target } = both;
      const p = await partitions.begin(task.jobId, task.step, task.idx, this.deps.owner);
      if (p === 'done') return null; // finished by an attempt before this one
      if (p === 'stopped') throw new RunGone(`partition ${task.idx} of job ${task.jobId} was stopped with its run; it is not run`);
      // A run that replaced this one while it started: its own attempt takes the partition back (fenced, retried).
      await gone();
      const token = p.token;
      const after = p.afterKey ?? undefined;
      const until = p.untilKey ?? undefined;
      // Where the last committed page left the range: its records' count and checksum as read and written,
      // and the records set aside (a retry goes on from there, so nothing is counted twice or lost).
      const carried = (p.result ?? null) as Partial<PartitionResult> | null;
      let rejected = carried?.rejected ?? 0;
      const copied = new Checksum(carried?.sourceCount ?? 0, carried?.sourceChecksum ?? null);
      const hash = step.check!.hash;
      const firstIds: string[] = [...(carried?.samples ?? [])];
      let { done, written } = p;
      let cursor = p.cursor;
      const limiter = this.deps.limiter;
      await copyPages<VectorRecord>({
        reader: source.range(after, until),
        writer: target,
        pageSize: job.batchSize,
        after: cursor ?? undefined,
        // By key: a retry rewrites the records an earlier attempt wrote after its last commit.
        mode: { first: 'overwrite', rest: 'overwrite' },
        throttleMs: (job.options as { throttleMs?: number } | null)?.throttleMs,
        check: async () => {
          await gone();
        },
        onBatch: async (b) => {
          const set = new Set(b.rejected.map((r) => r.id));
          for (const item of b.page.items) if (!set.has(item.id)) copied.add(hash(item));
          const pageRejects = b.rejected.map((r) => ({ id: r.id, reason: r.reason, record: target.encode(r.item) }));
          done += b.page.units;
          written += b.written;
          cursor = b.page.cursor;
          // The recall sample: a record the target holds (a rejected one could not be searched for).
          const kept = b.page.items.find((item) => !set.has(item.id));
          if (kept) firstIds.push(kept.id);
          // One fenced commit: the page's position, its records in the checksum, its rejects.
          await partitions.advance(p, token, { cursor, done, written, result: { sourceCount: copied.count, sourceChecksum: copied.hex, rejected: rejected + pageRejects.length, samples: firstIds } as never }, pageRejects, rejected);
          rejected += pageRejects.length;
          if (limiter) await limiter.take(task.jobId, b.page.units);
        },
      });
      await gone();
      // What was copied, as read: the coordinator compares the sum over every partition with both whole
      // sides read again once every partition is done.
      const result: PartitionResult = { sourceCount: copied.count, sourceChecksum: copied.hex, rejected, samples: evenly(firstIds, SAMPLES_PER_PARTITION), ms: Date.now() - t0 };
      await partitions.complete(p, token, result);
      return result;
    } finally {
      await ctx?.close().catch(() => undefined);
    }
  }
}
