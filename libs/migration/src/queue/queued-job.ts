import { SwitchyardError } from '@switchyard/core';
import type { MigrationPartitionEntity } from '@switchyard/relational-db';
import type { VectorRecord } from '@switchyard/vector-db';
import { setTimeout as sleep } from 'node:timers/promises';
import { Checksum } from '../checksum';
import type { Step } from '../job-context';
import { TakenOver } from '../job-store';
import type { ConflictPolicy, JobOptions, MigrationProgress, MigrationVerification, StepProgress } from '../migration.types';
import { checksumOf } from '../pipeline';
import { rateAndEta } from '../progress';
import { finish, prepareTarget, Run } from '../step-copier';
import { OrphanTally } from '../vector-checks';
import { VectorCollection } from '../vector-collection';
import { indexRecall, planOf, sampledRecall, verifyOf } from '../verification';
import type { PartitionResult, PartitionStore } from './partition-store';
import { evenly, PartitionTask, rangeStep } from './partition-worker';

const RECALL_SAMPLES = 20;
/** How long a stopping run waits for workers to let go of its partitions (a `cancel` waits 10 s for the run). */
const STOP_WAIT_MS = 8000;

/** Where a run's partitions are queued (BullMQ): one flow per run, a parent and a child per partition. */
export interface PartitionQueue {
  enqueue(jobId: string, runId: string, tasks: PartitionTask[]): Promise<void>;
  /** The run's flow: still going, finished, or failed (with the reason of the partition that failed). */
  state(jobId: string, runId: string): Promise<{ state: 'running' | 'completed' | 'failed'; reason?: string }>;
  /** Drops the run's queued partitions (those a worker holds stay with it until it stops). */
  discard(jobId: string, runId: string, idxs: number[]): Promise<void>;
  /** How many of the run's partitions a worker holds now. */
  active(jobId: string, runId: string, idxs: number[]): Promise<number>;
}

export interface QueuedOptions {
  partitionSize: number;
  /** A log line when no partition moved for this long (no worker running?). */
  idleWarnMs: number;
  pollMs?: number;
}

/**
 * Whether this job runs as partitions on the queue: a VECTORS copy into an empty target (FAIL, or
 * TRUNCATE), or a re-index that rebuilds its store whole (TRUNCATE, or a BLUE_GREEN generation); not live.
 */
export function queueable(run: Pick<Run, 'job' | 'ctx'>): boolean {
  const policy = run.job.onConflict as ConflictPolicy;
  const { kind, options } = run.job;
  const whole = kind === 'VECTORS' ? policy === 'FAIL' || policy === 'TRUNCATE' : kind === 'REINDEX' && (policy === 'TRUNCATE' || (options as JobOptions | null)?.mode === 'BLUE_GREEN');
  return whole && !run.ctx.live && run.ctx.steps.length === 1 && rangeStep(run.ctx.steps[0]) !== null;
}

/**
 * A VECTORS job as partitions for queue workers. The coordinator (the process that started or resumed the
 * job, holding its lock and heartbeat) takes the backups, empties the target for TRUNCATE, drops the
 * bulk-load index, cuts the source into key ranges and queues them; workers copy them; the coordinator
 * follows their progress, then builds the index and verifies: what the partitions copied, the whole source
 * and the whole target read again, compared by count and checksum, plus a recall sample. Resumed, it
 * queues only the partitions that are not done.
 */
export async function queuedCopy(run: Run, queue: PartitionQueue, partitions: PartitionStore, o: QueuedOptions): Promise<void> {
  const { job, ctx } = run;
  const s = ctx.steps[0] as Step<VectorRecord>;
  const source = rangeStep(s)!.source;
  const previous = await partitions.listLight(job.id);
  const resumed = previous.length > 0;
  if (!job.plan) await run.update({ plan: await planOf(ctx, false, job.batchSize) });
  const before = resumed ? null : await prepareTarget(run, job.onConflict as ConflictPolicy);
  await run.check();
  await ctx.before?.();
  const total = await source.count();
  const prior = (job.progress as MigrationProgress | null)?.steps.find((x) => x.name === s.name);
  const sp: StepProgress = { name: s.name, total, read: 0, written: 0, skipped: 0, errors: 0, ms: prior?.ms ?? 0, finished: false, rejected: [], targetBefore: before ? before[0] : (prior?.targetBefore ?? 0) };
  const progress: MigrationProgress = { total, done: 0, ratePerSecond: 0, etaSeconds: null, phase: 'split', steps: [sp] };
  await run.update({ progress });
  // The ranges: cut once per job (a resumed job keeps its ranges and the partitions already done).
  const parts = resumed ? previous : await partitions.split(job.id, s.name, await source.splitPoints(o.partitionSize));
  if (resumed) await partitions.reopen(job.id);
  await run.check();
  await s.target.prepare?.();
  const todo = parts.filter((p) => p.status !== 'DONE').map((p) => ({ jobId: job.id, runId: run.runId, step: p.step, idx: p.idx }));
  progress.phase = 'copy';
  await run.update({ progress });
  if (todo.length) await queue.enqueue(job.id, run.runId, todo);
  run.logger.log(`job ${job.id}: ${parts.length} partition(s) of ~${o.partitionSize} records, ${todo.length} queued`);
  const rejects = new RejectFiling(run, partitions, sp);
  try {
    await follow(run, queue, partitions, { sp, progress, total, prior: prior?.ms ?? 0, doneBefore: parts.reduce((n, p) => n + p.done, 0), rejects, o });
  } catch (e) {
    // A run that another one took over leaves the partitions (and the reject file) to that run.
    if (!(e instanceof TakenOver) && (await run.store.getEntity(job.id).catch(() => null))?.runId === run.runId) {
      await stop(run, queue, partitions, todo.map((t) => t.idx));
      await rejects.fileStopped().catch(() => undefined);
      // As in-process: the bulk-load index dropped above is built again (an in-place re-index stopped half-way must not leave the store the app searches unindexed).
      await s.target.finish?.().catch(() => undefined);
    }
    throw e;
  }
  const results = await partitions.list(job.id);
  await run.check();
  progress.phase = 'index';
  await run.update({ progress });
  if (job.kind === 'REINDEX') return verifyReindex(run, s, progress, results.length);
  // Both whole sides read again while the target builds its index (reads; the build only blocks writes).
  const rejectedIds = new Set((await partitions.rejects(job.id, undefined, false)).map((r) => r.reject.id));
  const tally = ctx.orphans ? new OrphanTally() : null;
  const reads = Promise.all([
    checksumOf(s.scan, s.check!.hash, job.batchSize, undefined, (r) => !rejectedIds.has(r.id)),
    checksumOf(s.check!.target, s.check!.hash, job.batchSize, (r) => tally?.visit(r)),
  ]);
  reads.catch(() => undefined); // awaited below; never unhandled meanwhile
  await s.target.finish?.();
  sp.finished = true;
  await run.check();
  await ctx.after?.();
  progress.phase = 'verify';
  await run.update({ progress });
  const [sourceNow, targetNow] = await reads;
  const verification = await verifyWhole(run, s, results.map((p) => p.result as unknown as PartitionResult), { rejected: rejectedIds.size, sourceNow, targetNow, tally });
  await run.check();
  await finish(run, progress, verification);
}

/**
 * A re-index's end: the documents change while it runs (the app writes them; each page redoes a document
 * that changed while it was embedded), so what the partitions read is not the measure. As in-process, the
 * whole store is compared with the documents now (extra chunks fail it; keys the app changed during the
 * comparison are compared again against the active generation), plus the recall samples.
 */
async function verifyReindex(run: Run, s: Step<VectorRecord>, progress: MigrationProgress, parts: number): Promise<void> {
  const { job, ctx } = run;
  await s.target.finish?.();
  progress.steps[0].finished = true;
  await run.check();
  await ctx.after?.();
  progress.phase = 'verify';
  await run.update({ progress });
  const verification = await verifyOf(ctx, job.batchSize, { rejected: await run.rejects.ids(), seed: job.id, progress });
  verification.notes.push(`${s.name}: built as ${parts} partition(s) on queue workers; the whole store compared with the documents at the end.`);
  await run.check();
  await finish(run, progress, verification);
}

/** The job's reject file, rebuilt by each run from its partitions: finished ones as they finish, the rest when the run stops. */
class RejectFiling {
  private readonly filed = new Set<number>();
  count = 0;

  constructor(
    private readonly run: Run,
    private readonly partitions: PartitionStore,
    private readonly sp: StepProgress,
  ) {
    run.rejects.remove();
  }

  /** The rejects of partitions that finished since the last call. */
  async fileDone(light: MigrationPartitionEntity[]): Promise<void> {
    await this.file(light.filter((p) => p.status === 'DONE' && !this.filed.has(p.idx)).map((p) => p.idx));
  }

  /** A stopped run: also what its unfinished partitions committed (the next run rebuilds the file). */
  async fileStopped(): Promise<void> {
    await this.file((await this.partitions.listLight(this.run.job.id)).filter((p) => !this.filed.has(p.idx)).map((p) => p.idx));
  }

  private async file(idxs: number[]): Promise<void> {
    if (!idxs.length) return;
    const got = await this.partitions.rejects(this.run.job.id, idxs);
    this.run.rejects.append(got.map((x) => ({ step: x.step, ...x.reject })));
    this.count += got.length;
    const sp = this.sp;
    if (sp.rejected.length < 10) sp.rejected.push(...got.slice(0, 10 - sp.rejected.length).map((x) => ({ id: x.reject.id, reason: x.reject.reason })));
    sp.errors = this.count;
    for (const idx of idxs) this.filed.add(idx);
  }
}

/** Follows the partitions until every one is done: progress, rejects, a failed flow, a queue nobody works on. */
async function follow(
  run: Run,
  queue: PartitionQueue,
  partitions: PartitionStore,
  f: { sp: StepProgress; progress: MigrationProgress; total: number; prior: number; doneBefore: number; rejects: RejectFiling; o: QueuedOptions },
): Promise<void> {
  const { job } = run;
  const { sp, progress } = f;
  const started = Date.now();
  let lastMove = Date.now();
  let lastDone = -1;
  for (;;) {
    await run.check();
    const now = await partitions.listLight(job.id);
    await f.rejects.fileDone(now);
    const finished = now.filter((p) => p.status === 'DONE').length;
    const done = now.reduce((n, p) => n + p.done, 0);
    Object.assign(sp, { read: done, written: now.reduce((n, p) => n + p.written, 0), ms: f.prior + Date.now() - started });
    Object.assign(progress, { done }, rateAndEta(f.total, done, done - f.doneBefore, Date.now() - started));
    const running = now.filter((p) => p.status === 'RUNNING');
    progress.queue = { partitions: now.length, finished, running: running.length, attempts: now.reduce((n, p) => n + p.attempts, 0), workers: [...new Set(running.flatMap((p) => (p.worker ? [p.worker] : [])))].sort() };
    await run.update({ progress, heartbeatAt: new Date() });
    if (finished === now.length) return;
    const flow = await queue.state(job.id, run.runId);
    if (flow.state === 'failed') throw new SwitchyardError('PROVIDER_UNAVAILABLE', `a partition of job ${job.id} failed after its retries: ${flow.reason ?? 'unknown reason'}; resume the job to run the partitions that are not done`, { jobId: job.id });
    if (flow.state === 'completed') {
      // The last partition may have been recorded DONE between the read above and the queue's answer (a
      // worker records it before BullMQ completes the flow): read again before calling anything missing.
      const again = await partitions.listLight(job.id);
      const missing = again.filter((p) => p.status !== 'DONE').length;
      if (!missing) continue;
      throw new SwitchyardError('MIGRATION_STATE', `the queue reports job ${job.id}'s partitions completed, but ${missing} of them are not done in the database; resume the job to run them again`, { jobId: job.id });
    }
    // Nobody working on it: say so (the job waits; workers may be started later).
    if (done !== lastDone) (lastDone = done), (lastMove = Date.now());
    else if (Date.now() - lastMove > f.o.idleWarnMs) {
      run.logger.warn(`job ${job.id}: no partition progressed for ${Math.round((Date.now() - lastMove) / 1000)} s and ${running.length} are held: is a \`switchyard worker\` running against the same Redis and prefix?`);
      lastMove = Date.now();
    }
    await sleep(f.o.pollMs ?? 500);
  }
}

/**
 * A run that stops (cancelled, failed): drops its queued partitions, stops every unfinished one (a worker
 * still on one commits nothing more, a retry of it ends at once), and waits a little for workers to let go
 * (a worker that died holds its partition until its lock expires, but writes nothing).
 */
async function stop(run: Run, queue: PartitionQueue, partitions: PartitionStore, idxs: number[]): Promise<void> {
  await queue.discard(run.job.id, run.runId, idxs).catch(() => undefined);
  await partitions.stopAll(run.job.id).catch(() => undefined);
  const deadline = Date.now() + STOP_WAIT_MS;
  while (Date.now() < deadline && (await queue.active(run.job.id, run.runId, idxs).catch(() => 0)) > 0) await sleep(200);
}

/**
 * The job's verification: what the partitions copied (their counts and checksums as read, summed: the
 * checksum is an order-independent sum), the whole source read again now (a record edited, added or removed
 * after its partition copied it fails here) and the whole target read now (a late write of an attempt that
 * lost its partition, or a record outside every range, fails here), all equal; then orphans and recall.
 */
async function verifyWhole(run: Run, s: Step<VectorRecord>, results: PartitionResult[], w: { rejected: number; sourceNow: Checksum; targetNow: Checksum; tally: OrphanTally | null }): Promise<MigrationVerification> {
  const { ctx } = run;
  const notes: string[] = [];
  const copied = new Checksum();
  for (const r of results) copied.merge(new Checksum(r.sourceCount, r.sourceChecksum));
  const { sourceNow, targetNow } = w;
  const same = (a: Checksum, b: Checksum) => a.count === b.count && a.hex === b.hex;
  let ok = true;
  if (!same(copied, sourceNow)) {
    ok = false;
    notes.push(`${s.name}: the source now (${sourceNow.count} records, checksum ${sourceNow.hex}) is not what the partitions copied (${copied.count}, ${copied.hex}): it changed during the job (stop its writers, or use a live migration).`);
  }
  const match = same(sourceNow, targetNow);
  if (!match) {
    ok = false;
    notes.push(sourceNow.count !== targetNow.count ? `${s.name}: ${sourceNow.count} in the source${w.rejected ? ` (after ${w.rejected} rejected)` : ''}, ${targetNow.count} in the target.` : `${s.name}: same count (${sourceNow.count}) but the checksums differ: some records changed.`);
  }
  let orphans: number | null = null;
  if (w.tally && ctx.orphans) {
    const r = await w.tally.result(ctx.orphans);
    orphans = r.orphans;
    if (r.orphans) ok = false;
    if (r.note) notes.push(`${s.name}: ${r.note}`);
  }
  if (w.rejected) notes.push(`${s.name}: ${w.rejected} rejected record(s) left out of the comparison (see the reject file).`);
  notes.push(`${s.name}: copied as ${results.length} partition(s); what they copied, the whole source and the whole target compared at the end.`);
  // The recall sample: ids the partitions drew across the whole range, read from the source now.
  const ids = results.flatMap((r) => r.samples);
  const picked = evenly(ids, RECALL_SAMPLES);
  const samples = picked.length ? await (s.source as VectorCollection).db.records(picked) : [];
  const recall = await sampledRecall(ctx, samples, notes);
  if (!recall.ok) ok = false;
  const verification: MigrationVerification = {
    ok,
    tables: [{ name: s.name, sourceCount: sourceNow.count, targetCount: targetNow.count, sourceChecksum: sourceNow.hex, targetChecksum: targetNow.hex, checksumMatch: match }],
    recallAt10: recall.recallAt10,
    indexRecallAt10: null,
    orphans,
    notes,
    checkedAt: new Date().toISOString(),
  };
  await indexRecall(ctx, samples, verification)();
  return verification;
}
