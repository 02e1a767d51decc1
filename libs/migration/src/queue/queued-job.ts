import { SwitchyardError } from '@switchyard/core';
import type { VectorRecord } from '@switchyard/vector-db';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Step } from '../job-context';
import type { ConflictPolicy, MigrationProgress, MigrationVerification, StepProgress } from '../migration.types';
import { TakenOver } from '../job-store';
import { rateAndEta } from '../progress';
import { finish, prepareTarget, Run } from '../step-copier';
import type { Checksum } from '../checksum';
import { checksumOf } from '../pipeline';
import { planOf, indexRecall, sampledRecall } from '../verification';
import { VectorCollection } from '../vector-collection';
import type { MigrationPartitionEntity } from '@switchyard/relational-db';
import type { PartitionResult, PartitionStore } from './partition-store';
import type { PartitionTask } from './partition-worker';

const MASK = (1n << 64n) - 1n;
const RECALL_SAMPLES = 20;

/** Where a run's partitions are queued (BullMQ): one flow per run, a parent and a child per partition. */
export interface PartitionQueue {
  enqueue(jobId: string, runId: string, tasks: PartitionTask[]): Promise<void>;
  /** The run's flow: still going, finished, or failed (with the reason of the partition that failed). */
  state(jobId: string, runId: string): Promise<{ state: 'running' | 'completed' | 'failed'; reason?: string }>;
  /** Drops what is left of the run's flow (cancelled, failed, taken over). */
  discard(jobId: string, runId: string): Promise<void>;
  /** The run's partitions a worker holds now. */
  active(jobId: string, runId: string): Promise<number>;
}

/** Whether this job runs as partitions on the queue: a VECTORS copy into an empty target (FAIL, or TRUNCATE), not live. */
export function queueable(run: Pick<Run, 'job' | 'ctx'>): boolean {
  const policy = run.job.onConflict as ConflictPolicy;
  const [s] = run.ctx.steps;
  return run.job.kind === 'VECTORS' && !run.ctx.live && (policy === 'FAIL' || policy === 'TRUNCATE') && run.ctx.steps.length === 1 && s.source instanceof VectorCollection && s.target instanceof VectorCollection;
}

function addHex(a: bigint, hex: string): bigint {
  return (a + BigInt(`0x${hex}`)) & MASK;
}

/**
 * A VECTORS job as partitions for queue workers: the coordinator (the process that started or resumed the
 * job, holding its lock and heartbeat) takes the backups, empties the target for TRUNCATE, drops the
 * bulk-load index, cuts the source into key ranges and queues them; workers copy and checksum each range;
 * the coordinator follows their progress, then rebuilds the index and verifies the whole job from the
 * partitions' counts and checksums (plus both sides' total counts and a recall sample). Resumed, it
 * queues only the partitions that are not done.
 */
export async function queuedCopy(run: Run, queue: PartitionQueue, partitions: PartitionStore, o: { partitionSize: number; lockMs: number; idleWarnMs: number; pollMs?: number }): Promise<void> {
  const { job, ctx } = run;
  const policy = job.onConflict as ConflictPolicy;
  const s = ctx.steps[0] as Step<VectorRecord>;
  const source = s.source as VectorCollection;
  const previous = await partitions.list(job.id);
  const resumed = previous.length > 0;
  if (!job.plan) await run.update({ plan: await planOf(ctx, false, job.batchSize) });
  const before = resumed ? null : await prepareTarget(run, policy);
  await run.check();
  const total = await source.count();
  const prior = (job.progress as MigrationProgress | null)?.steps.find((x) => x.name === s.name);
  const sp: StepProgress = { name: s.name, total, read: 0, written: 0, skipped: 0, errors: 0, ms: prior?.ms ?? 0, finished: false, rejected: [], targetBefore: before ? before[0] : (prior?.targetBefore ?? 0) };
  const progress: MigrationProgress = { total, done: 0, ratePerSecond: 0, etaSeconds: null, phase: 'split', steps: [sp] };
  await run.update({ progress });
  // The ranges: cut once per job (a resumed job keeps its ranges and the partitions already done).
  const parts = resumed ? previous : await partitions.split(job.id, s.name, await source.splitPoints(o.partitionSize));
  await run.check();
  await s.target.prepare?.();
  const todo = parts.filter((p) => p.status !== 'DONE').map((p) => ({ jobId: job.id, runId: run.runId, step: p.step, idx: p.idx }));
  progress.phase = 'copy';
  await run.update({ progress });
  if (todo.length) await queue.enqueue(job.id, run.runId, todo);
  run.logger.log(`job ${job.id}: ${parts.length} partition(s) of ~${o.partitionSize} records, ${todo.length} queued`);
  const started = Date.now();
  const doneBefore = parts.reduce((n, p) => n + p.done, 0);
  // The reject file is rebuilt from the partitions as they finish: a run that stops keeps what its
  // finished partitions set aside.
  run.rejects.remove();
  const filed = new Set<number>();
  let rejects = 0;
  let lastMove = Date.now();
  let lastDone = -1;
  const file = (now: MigrationPartitionEntity[]) => {
    for (const p of now) {
      if (p.status !== 'DONE' || filed.has(p.idx)) continue;
      const r = p.result as unknown as PartitionResult;
      run.rejects.append(r.rejects.map((x) => ({ step: s.name, ...x })));
      rejects += r.rejects.length;
      if (sp.rejected.length < 10) sp.rejected.push(...r.rejects.slice(0, 10 - sp.rejected.length).map((x) => ({ id: x.id, reason: x.reason })));
      filed.add(p.idx);
    }
  };
  try {
    for (;;) {
      await run.check();
      const now = await partitions.list(job.id);
      file(now);
      const finished = now.filter((p) => p.status === 'DONE').length;
      const done = now.reduce((n, p) => n + p.done, 0);
      Object.assign(sp, { read: done, written: now.reduce((n, p) => n + p.written, 0), errors: rejects, ms: (prior?.ms ?? 0) + Date.now() - started });
      Object.assign(progress, { done }, rateAndEta(total, done, done - doneBefore, Date.now() - started));
      progress.queue = {
        partitions: now.length,
        finished,
        running: now.filter((p) => p.status === 'RUNNING').length,
        attempts: now.reduce((n, p) => n + p.attempts, 0),
        workers: [...new Set(now.filter((p) => p.status === 'RUNNING' && p.worker).map((p) => p.worker!))].sort(),
      };
      await run.update({ progress, heartbeatAt: new Date() });
      if (finished === now.length) break;
      const flow = await queue.state(job.id, run.runId);
      if (flow.state === 'failed') throw new SwitchyardError('PROVIDER_UNAVAILABLE', `a partition of job ${job.id} failed after its retries: ${flow.reason ?? 'unknown reason'}; resume the job to run the partitions that are not done`, { jobId: job.id });
      if (flow.state === 'completed') throw new SwitchyardError('MIGRATION_STATE', `the queue reports job ${job.id}'s partitions completed, but ${now.length - finished} of them are not done in the database; resume the job to run them again`, { jobId: job.id });
      // Nobody working on it: say so (the job waits; workers may be started later).
      if (done !== lastDone) (lastDone = done), (lastMove = Date.now());
      else if (Date.now() - lastMove > o.idleWarnMs) {
        run.logger.warn(`job ${job.id}: no partition progressed for ${Math.round((Date.now() - lastMove) / 1000)} s and ${progress.queue.running} are held: is a \`switchyard worker\` running against the same Redis and prefix?`);
        lastMove = Date.now();
      }
      await sleep(o.pollMs ?? 500);
    }
  } catch (e) {
    // A run that was taken over leaves the partitions to the run that took it.
    if (!(e instanceof TakenOver)) {
      await stop(run, queue, partitions, o.lockMs);
      // What the partitions finished by now set aside, in the reject file of the stopped job.
      file(await partitions.list(job.id).catch(() => []));
    }
    throw e;
  }
  const results = (await partitions.list(job.id)).map((p) => p.result as unknown as PartitionResult);
  sp.errors = rejects;
  await run.check();
  progress.phase = 'index';
  await run.update({ progress });
  // The whole source read again (verification) while the target builds its index: different servers.
  const rejectedIds = new Set(results.flatMap((r) => r.rejects.map((x) => x.id)));
  const sourceNow = checksumOf(s.scan, s.check!.hash, job.batchSize, undefined, (r) => !rejectedIds.has(r.id));
  sourceNow.catch(() => undefined); // awaited below; never unhandled meanwhile
  await s.target.finish?.();
  sp.finished = true;
  await run.check();
  await ctx.after?.();
  progress.phase = 'verify';
  await run.update({ progress });
  const verification = await verifyPartitions(run, s, results, rejectedIds, sourceNow);
  await run.check();
  await finish(run, progress, verification);
}

/**
 * A run that stops (cancelled, failed, taken over): fences every unfinished partition (a worker still on
 * one commits nothing more), drops the queued rest, and waits until no worker holds one of the run's
 * partitions (at most a lock period and a little) so no page lands after the job's final status.
 */
async function stop(run: Run, queue: PartitionQueue, partitions: PartitionStore, lockMs: number): Promise<void> {
  await partitions.fenceAll(run.job.id).catch(() => undefined);
  await queue.discard(run.job.id, run.runId).catch(() => undefined);
  const deadline = Date.now() + lockMs + 5000;
  while (Date.now() < deadline && (await queue.active(run.job.id, run.runId).catch(() => 0)) > 0) await sleep(200);
}

/**
 * The job's verification from its partitions: per range, both sides' counts and checksums (read by the
 * worker once its range was written), summed; then both whole sides counted now (a record added or removed
 * in the source since, or a target record outside every range, shows here); then the recall sample.
 */
async function verifyPartitions(run: Run, s: Step<VectorRecord>, results: PartitionResult[], rejectedIds: Set<string>, sourceRead: Promise<Checksum>): Promise<MigrationVerification> {
  const { ctx } = run;
  const notes: string[] = [];
  let src = 0n;
  let tgt = 0n;
  let sourceCount = 0;
  let targetCount = 0;
  let orphans: number | null = null;
  for (const r of results) {
    src = addHex(src, r.sourceChecksum);
    tgt = addHex(tgt, r.targetChecksum);
    sourceCount += r.sourceCount;
    targetCount += r.targetCount;
    if (r.orphans !== null) orphans = (orphans ?? 0) + r.orphans;
    if (r.orphanNote && !notes.includes(`${s.name}: ${r.orphanNote}`)) notes.push(`${s.name}: ${r.orphanNote}`);
  }
  const rejected = rejectedIds.size;
  // The whole source once more, after every range was verified: equal to what the ranges saw, or it changed
  // after its range was verified (a record edited, or one removed here and one added there).
  const [sourceNow, targetNow] = await Promise.all([sourceRead, s.target.count()]);
  const hex = (x: bigint) => x.toString(16).padStart(16, '0');
  const match = sourceCount === targetCount && src === tgt;
  let ok = match && !orphans;
  if (!match) notes.push(sourceCount !== targetCount ? `${s.name}: ${sourceCount} in the source's ranges${rejected ? ` (after ${rejected} rejected)` : ''}, ${targetCount} in the target's.` : `${s.name}: same count (${sourceCount}) but the checksums of the ranges differ: some records changed.`);
  if (sourceNow.count !== sourceCount || sourceNow.hex !== hex(src)) {
    ok = false;
    notes.push(`${s.name}: the source now (${sourceNow.count} records, checksum ${sourceNow.hex}) is not what its ranges held when they were verified (${sourceCount}, ${hex(src)}): it changed during the job (stop its writers, or use a live migration).`);
  }
  if (targetNow !== targetCount) {
    ok = false;
    notes.push(`${s.name}: the target holds ${targetNow} records, ${targetCount} inside the verified ranges.`);
  }
  if (rejected) notes.push(`${s.name}: ${rejected} rejected record(s) left out of the comparison (see the reject file).`);
  notes.push(`${s.name}: verified as ${results.length} partition(s), each range read on both sides after it was written, and the whole source read again at the end.`);
  // The recall sample: ids the partitions drew across the whole range, read from the source now.
  const ids = results.flatMap((r) => r.samples);
  const step = Math.max(1, Math.floor(ids.length / RECALL_SAMPLES));
  const picked = ids.filter((_, i) => i % step === 0).slice(0, RECALL_SAMPLES);
  const samples = picked.length ? await (s.source as VectorCollection).db.records(picked) : [];
  const recall = await sampledRecall(ctx, samples, notes);
  if (!recall.ok) ok = false;
  const verification: MigrationVerification = {
    ok,
    tables: [{ name: s.name, sourceCount, targetCount, sourceChecksum: hex(src), targetChecksum: hex(tgt), checksumMatch: match }],
    recallAt10: recall.recallAt10,
    indexRecallAt10: null,
    orphans,
    notes,
    checkedAt: new Date().toISOString(),
  };
  await indexRecall(ctx, samples, verification)();
  return verification;
}
