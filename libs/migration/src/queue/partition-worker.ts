import { SwitchyardError } from '@switchyard/core';
import type { VectorRecord } from '@switchyard/vector-db';
import type { ContextBuilder, JobContext, Step } from '../job-context';
import type { JobStore } from '../job-store';
import { checksumOf, copyPages } from '../pipeline';
import { VectorCollection } from '../vector-collection';
import { OrphanTally } from '../vector-checks';
import { PartitionFenced, PartitionResult, PartitionStore } from './partition-store';

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

/** The two collections of a vector step, as the partition needs them (the copy's and the range's reader). */
function collections(step: Step): { source: VectorCollection; target: VectorCollection } {
  if (!(step.source instanceof VectorCollection) || !(step.target instanceof VectorCollection) || !step.check) {
    throw new SwitchyardError('MIGRATION_STATE', `step ${step.name} cannot be partitioned: only a vector collection copy can (VECTORS)`);
  }
  return { source: step.source, target: step.target };
}

/**
 * Runs one partition: copies its key range with writes by key (a retry overwrites what an attempt before
 * it wrote, so nothing is written twice), resuming after the range's last committed cursor, then reads the
 * range on both sides and records their counts and checksums. Every commit is fenced by the attempt's
 * token; every page first checks that the job is still this run's and running.
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
    const job = await store.getEntity(task.jobId);
    const gone = async () => {
      const now = await store.getEntity(task.jobId);
      if (now.runId !== task.runId) throw new RunGone(`job ${task.jobId} belongs to another run now (${now.runId}); partition ${task.idx} of run ${task.runId} is dropped`);
      if (now.status !== 'RUNNING') throw new RunGone(`job ${task.jobId} is ${now.status}; partition ${task.idx} is not run`);
    };
    await gone();
    const t0 = Date.now();
    let ctx: JobContext | undefined;
    try {
      ctx = await this.deps.contexts.build(job);
      if (ctx.refusal) throw ctx.refusal;
      const step = ctx.steps.find((s) => s.name === task.step);
      if (!step) throw new SwitchyardError('MIGRATION_STATE', `job ${task.jobId} has no step ${JSON.stringify(task.step)}`);
      const { source, target } = collections(step);
      const p = await partitions.begin(task.jobId, task.step, task.idx, this.deps.owner);
      if (!p) return null; // finished by an attempt before this one
      const token = p.token;
      const after = p.afterKey ?? undefined;
      const until = p.untilKey ?? undefined;
      const rejects: PartitionResult['rejects'] = [];
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
        check: async () => {
          await gone();
        },
        onRejects: (rs) => {
          rejects.push(...rs.map((r) => ({ id: r.id, reason: r.reason, record: source.encode(r.item) })));
        },
        onBatch: async (b) => {
          done += b.page.units;
          written += b.written;
          cursor = b.page.cursor;
          await partitions.advance(p, token, { cursor, done, written });
          if (limiter) await limiter.take(task.jobId, b.page.units);
        },
      });
      // Rejects of pages before a restart were recorded by no attempt: the range is screened again for them.
      const rejected = new Set(rejects.map((r) => r.id));
      if (p.cursor) {
        for await (const page of source.range(after, p.cursor).pages(job.batchSize)) {
          for (const item of page.items) {
            const why = target.validate(item);
            if (why && !rejected.has(item.id)) (rejected.add(item.id), rejects.push({ id: item.id, reason: why, record: source.encode(item) }));
          }
        }
      }
      await gone();
      // Both sides of the range, read again now that it is written: the job's verification adds these up.
      const hash = step.check!.hash;
      const samples: string[] = [];
      const tally = ctx.orphans ? new OrphanTally() : null;
      const [src, tgt] = await Promise.all([
        checksumOf(source.range(after, until), hash, job.batchSize, (r, i) => i % Math.max(1, Math.floor(p.done / SAMPLES_PER_PARTITION) || 997) === 0 && samples.length < SAMPLES_PER_PARTITION && samples.push(r.id), (r) => !rejected.has(r.id)),
        checksumOf(target.range(after, until), hash, job.batchSize, (r) => tally?.visit(r)),
      ]);
      const orphans = tally && ctx.orphans ? await tally.result(ctx.orphans) : { orphans: null, note: null };
      const result: PartitionResult = {
        sourceCount: src.count,
        sourceChecksum: src.hex,
        targetCount: tgt.count,
        targetChecksum: tgt.hex,
        rejects,
        samples,
        orphans: orphans.orphans,
        orphanNote: orphans.note,
        ms: Date.now() - t0,
      };
      await partitions.complete(p, token, result);
      return result;
    } catch (e) {
      if (e instanceof PartitionFenced) throw new RunGone(e.message);
      throw e;
    } finally {
      await ctx?.close().catch(() => undefined);
    }
  }
}
