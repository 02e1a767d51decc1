import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { BadInputError, errorMessage, SwitchyardError } from '@switchyard/core';
import { createChunker } from '@switchyard/knowledge';
import { MigrationJobEntity, relationalUnavailable } from '@switchyard/relational-db';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable } from 'rxjs';
import { ContextBuilder, JobContext } from './job-context';
import { joinError, JobStore, TakenOver } from './job-store';
import {
  ACTIVE_PROFILE,
  Backup,
  CONFLICT_POLICIES,
  DATASET_KINDS,
  FINAL_STATUSES,
  ExportInput,
  ImportInput,
  JobKind,
  JobOptions,
  MIGRATION_KINDS,
  MigrationDeps,
  MigrationJob,
  MigrationKind,
  MigrationLogger,
  MigrationVerification,
  ResumeOptions,
  StartMigrationInput,
} from './migration.types';
import { resolveDataPath } from './ndjson';
import { RejectFile } from './rejects';
import { inspectProfiles, ProfileStatus } from './profile-inspector';
import type { ReadStream } from 'node:fs';
import { currentOwner, formatOwner, ownerIsDead, RunOwner } from './run-owner';
import { copyJob, Run } from './step-copier';
import { BullmqPartitionQueue, startQueueWorkers, WorkerHandle } from './queue/bullmq-queue';
import { PartitionStore } from './queue/partition-store';
import { PartitionWorker } from './queue/partition-worker';
import { queueable, queuedCopy } from './queue/queued-job';
import { conflictRefusal, planOf, targetCounts, verifyOf } from './verification';
import { intIn, oneOf, tableSelection } from './job-input';
import { captureLost, liveStopped } from './live-outcome';
import { ModelSwitch } from './model-switch';
import { SwitchGuards, writesVectors } from './switch-guards';

/** KNOWLEDGE_MAX_DOCUMENT_BYTES' default. */
const DEFAULT_MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;

/** A job whose status is CANCELLED was stopped; anything else is a failure. */
function cancelled(why: string): SwitchyardError {
  return new SwitchyardError('CANCELLED', why);
}

/**
 * Moves a deployment's data between providers: the target is the active RelationalDb + VectorDb (given,
 * already open); the source is a named profile the service opens read-only. Every job is recorded in the
 * target's relational DB with its plan, progress (checkpointed per batch), backups and verification, so a
 * job survives its process: a killed job is resumed from its last checkpoint.
 *
 * Jobs run in the background: start(), exportData(), importData(), restoreBackup(), run() and resume()
 * return at once with the job (or reject at once when the job is refused before any write).
 */
export class MigrationService implements OnApplicationShutdown {
  private readonly store: JobStore;
  private readonly contexts: ContextBuilder;
  private readonly events = new EventEmitter();
  private readonly running = new Map<string, { abort: AbortController; done: Promise<void> }>();
  private readonly logger: MigrationLogger;
  private readonly targetLabel: string;
  private lockKeyOnce?: Promise<string>;
  private readonly heartbeatMs: number;
  private readonly dataDir: string;
  private readonly owner: RunOwner;
  private readonly partitions: PartitionStore;
  private queueClient?: BullmqPartitionQueue;
  /** The model switch after a BLUE_GREEN re-index: list, switch, roll back, drop generations. */
  readonly models: ModelSwitch;
  private readonly guards: SwitchGuards;

  constructor(private readonly deps: MigrationDeps) {
    const staleAfterMs = deps.staleAfterMs ?? 30_000;
    this.dataDir = path.resolve(deps.dataDir);
    this.store = new JobStore(deps.target.relational, staleAfterMs);
    this.contexts = new ContextBuilder({
      target: deps.target,
      embeddings: deps.embeddings,
      profiles: deps.profiles,
      dataDir: this.dataDir,
      chunk: deps.chunk ?? createChunker({ chunkSize: 1000, chunkOverlap: 200 }),
      maxDocumentBytes: deps.maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES,
      generations: deps.generations,
    });
    this.models = new ModelSwitch(deps.generations, this.store, this.dataDir);
    this.guards = new SwitchGuards(deps.generations);
    this.logger = deps.logger ?? new Logger('Migration');
    this.targetLabel = deps.target.relational.label;
    this.owner = currentOwner(deps.instanceId);
    this.heartbeatMs = Math.max(100, Math.floor(staleAfterMs / 3));
    this.events.setMaxListeners(0);
    this.partitions = new PartitionStore(deps.target.relational);
  }

  /**
   * Runs queued partitions in this process (`switchyard worker`, or a Nest app with MigrationWorkerModule)
   * until closed. Needs MIGRATION_QUEUE=bullmq and REDIS_URL.
   */
  startWorker(options: { concurrency?: number } = {}): WorkerHandle {
    const configured = this.deps.queue;
    if (configured?.kind !== 'bullmq') throw new SwitchyardError('BAD_INPUT', 'a migration worker needs MIGRATION_QUEUE=bullmq and REDIS_URL');
    const queue = { ...configured, concurrency: options.concurrency ?? configured.concurrency };
    const worker = formatOwner(this.owner);
    this.logger.log(`migration worker ${worker}: partitions from ${queue.prefix} queues, concurrency ${queue.concurrency}${queue.rateLimit ? `, ${queue.rateLimit} records/s over all workers` : ''}`);
    return startQueueWorkers(queue, (limiter) => new PartitionWorker({ contexts: this.contexts, store: this.store, partitions: this.partitions, owner: worker, limiter }), this.logger);
  }

  // ---- operations ------------------------------------------------------------------------------

  /** Plans (dryRun) or runs a migration from a source profile into the active providers. */
  async start(input: StartMigrationInput): Promise<MigrationJob> {
    const kind = oneOf<MigrationKind>('kind', input?.kind, MIGRATION_KINDS);
    const source = kind === 'REINDEX' ? ACTIVE_PROFILE : (input.source ?? 'source');
    if (input.full && kind !== 'REINDEX') throw new BadInputError('full', 'full (embed every document again) is an option of a REINDEX job');
    const mode = await this.guards.reindexMode(kind, input);
    this.contexts.profile(source);
    if (input.live && kind === 'REINDEX') throw new BadInputError('live', 'a live migration is a RELATIONAL, VECTORS or FULL_STACK job (change capture on the source); a REINDEX runs beside the app\'s writes already');
    if (input.live && source === ACTIVE_PROFILE) throw new BadInputError('live', 'a live migration needs a source profile other than the active providers');
    return this.create(kind, {
      source,
      target: this.targetLabel,
      dryRun: input.dryRun === true,
      onConflict: mode === 'BLUE_GREEN' ? 'OVERWRITE' : oneOf('onConflict', input.onConflict, CONFLICT_POLICIES, 'FAIL'),
      batchSize: this.batchSize(input.batchSize),
      options: { throttleMs: intIn('throttleMs', input.throttleMs, 0, 60_000, 0), ...(input.tables ? { tables: tableSelection(input.tables) } : {}), ...(input.live ? { live: true } : {}), ...(input.full ? { full: true } : {}), ...(mode === 'BLUE_GREEN' ? { mode } : {}) },
    });
  }

  /** Ends the write freeze a live job left on a source profile (rolling back to it). True if it was frozen. */
  unfreeze(source = 'source'): Promise<boolean> {
    return this.contexts.unfreeze(source);
  }

  /** Streams a dataset of a profile (default: the active one) to an NDJSON file in the data dir. */
  async exportData(input: ExportInput): Promise<MigrationJob> {
    const dataset = oneOf('kind', input?.kind, DATASET_KINDS);
    const { relative } = resolveDataPath(this.dataDir, input.path);
    const source = input.source ?? ACTIVE_PROFILE;
    this.contexts.profile(source);
    return this.create('EXPORT', {
      source,
      target: `file:${relative}`,
      dryRun: false,
      onConflict: 'FAIL',
      batchSize: this.batchSize(input.batchSize),
      options: { dataset, path: relative, overwrite: input.overwrite === true },
    });
  }

  /** Loads an NDJSON export from the data dir into the active providers. */
  async importData(input: ImportInput): Promise<MigrationJob> {
    const dataset = oneOf('kind', input?.kind, DATASET_KINDS);
    const { relative } = resolveDataPath(this.dataDir, input.path);
    return this.create('IMPORT', {
      source: `file:${relative}`,
      target: this.targetLabel,
      dryRun: input.dryRun === true,
      onConflict: oneOf('onConflict', input.onConflict, CONFLICT_POLICIES, 'FAIL'),
      batchSize: this.batchSize(input.batchSize),
      options: { dataset, path: relative, throttleMs: intIn('throttleMs', input.throttleMs, 0, 60_000, 0) },
    });
  }

  /** Puts back what a job's TRUNCATE / OVERWRITE replaced, from the backups it took (a new RESTORE job). */
  async restoreBackup(jobId: string): Promise<MigrationJob> {
    await this.store.getEntity(jobId);
    return this.create('RESTORE', {
      source: `job:${jobId}`,
      target: this.targetLabel,
      dryRun: false,
      onConflict: 'TRUNCATE',
      batchSize: this.deps.defaultBatchSize,
      options: { fromJob: jobId },
    });
  }

  /** Runs a planned dry run for real, with the same settings. */
  async run(id: string): Promise<MigrationJob> {
    const job = await this.store.getEntity(id);
    if (job.status !== 'PLANNED' || !job.dryRun) throw new SwitchyardError('MIGRATION_STATE', `job ${id} is ${job.status}; only a finished dry run (PLANNED) can be run`, { id, status: job.status });
    await this.claim(job, () => false);
    Object.assign(job, { dryRun: false, status: 'RUNNING', startedAt: new Date(), finishedAt: null, error: null });
    return this.launch(job, false);
  }

  /**
   * Continues an interrupted job (FAILED, CANCELLED, or RUNNING in a process that died) from its last
   * checkpoints. A job that succeeded is left alone unless `overwrite` asks to run it again with OVERWRITE.
   * A RUNNING job is taken over at once when its owner is known dead (same instance and machine boot, its
   * process gone), otherwise once its heartbeat is older than staleAfterMs.
   */
  async resume(id: string, options: ResumeOptions = {}): Promise<MigrationJob> {
    const job = await this.store.getEntity(id);
    if (this.running.has(id)) return this.store.toJob(job);
    const succeeded = job.status === 'SUCCEEDED' || job.status === 'SUCCEEDED_WITH_REJECTS';
    if (succeeded && !options.overwrite) return this.store.toJob(job);
    if (job.status === 'PLANNED') return this.run(id);
    await this.guards.assertGenerationWritable(job);
    const dead = (holder: MigrationJobEntity) => this.store.isStale(holder) || ownerIsDead(holder.owner, this.owner);
    if (job.status === 'RUNNING' && !dead(job)) {
      throw new SwitchyardError('MIGRATION_STATE', `job ${id} is running in another process (${job.owner ?? 'unknown owner'}, last heartbeat ${job.heartbeatAt?.toISOString()}); cancel it first or wait for it`, { id });
    }
    await this.claim(job, dead);
    if (succeeded || (options.overwrite && (job.status === 'FAILED' || job.status === 'CANCELLED'))) {
      // Run again from the start (OVERWRITE; a TRUNCATE job truncates again): new checkpoints, new backups of what the target holds now (the old ones
      // stay listed in options.previousBackups), a new reject file.
      await this.store.clearCheckpoints(id);
      await this.partitions.clear(id);
      const previousBackups = [...((job.options as JobOptions).previousBackups ?? []), ...((job.backups as Backup[]) ?? [])];
      new RejectFile(this.dataDir, id).remove();
      Object.assign(job, { onConflict: job.onConflict === 'TRUNCATE' ? 'TRUNCATE' : 'OVERWRITE', progress: null, verification: null, backups: [], options: { ...(job.options as JobOptions), previousBackups }, startedAt: new Date() });
    }
    Object.assign(job, { status: 'RUNNING', finishedAt: null, error: null });
    return this.launch(job, false);
  }

  /** Stops a job at its next batch (it stays resumable). A job whose process died is marked CANCELLED and its lock freed. */
  async cancel(id: string): Promise<MigrationJob> {
    const job = await this.store.getEntity(id);
    const run = this.running.get(id);
    if (run) {
      run.abort.abort('cancel');
      await Promise.race([run.done, sleep(10_000)]);
      return this.get(id);
    }
    if (job.status !== 'RUNNING' && job.status !== 'PLANNED') throw new SwitchyardError('MIGRATION_STATE', `job ${id} is already ${job.status}`, { id, status: job.status });
    const dead = this.store.isStale(job) || ownerIsDead(job.owner, this.owner);
    const fields = { error: joinError('CANCELLED', 'cancelled by request; resume it to continue from its last checkpoint'), finishedAt: new Date() };
    if (!(await this.store.cancelRun(id, job.runId, fields))) {
      const now = await this.store.getEntity(id);
      throw new SwitchyardError('MIGRATION_STATE', `job ${id} changed while it was being cancelled: it is ${now.status} now${now.runId !== job.runId ? ', resumed by another process' : ''}; look at it again`, { id, status: now.status });
    }
    Object.assign(job, fields, { status: 'CANCELLED' });
    this.emit(job);
    // A live process sees the status at its next batch and releases the lock itself; a dead one's lock
    // is released here, only if it is still that run's.
    if (dead) await this.store.unlock(await this.lockKey(), id, job.runId);
    return this.store.toJob(job);
  }

  get(id: string): Promise<MigrationJob> {
    return this.store.get(id);
  }

  /** A job's reject file to download (NOT_FOUND for an unknown job; null when it set nothing aside). */
  async rejects(id: string): Promise<{ name: string; stream: ReadStream; bytes: number } | null> {
    await this.store.get(id);
    const file = new RejectFile(this.dataDir, id);
    const opened = file.open();
    return opened && { name: path.basename(file.relative), ...opened };
  }

  /** Every source profile, opened read-only as a job opens it, each side answering within `timeoutMs`. */
  profiles(timeoutMs = 5000): Promise<ProfileStatus[]> {
    return inspectProfiles(this.contexts, this.deps.profiles, { dimensions: this.deps.target.vector.dimensions }, timeoutMs);
  }

  /** The most recent jobs first. */
  list(limit = 100): Promise<MigrationJob[]> {
    return this.store.list(limit);
  }

  /** Resolves when the job is no longer running (in this process, or in another one, by polling). */
  async waitFor(id: string, timeoutMs = 0): Promise<MigrationJob> {
    const deadline = timeoutMs ? Date.now() + timeoutMs : Infinity;
    for (;;) {
      const run = this.running.get(id);
      if (run) await (timeoutMs ? Promise.race([run.done, sleep(Math.max(0, deadline - Date.now()))]) : run.done);
      const job = await this.store.get(id);
      if (job.status !== 'RUNNING' || job.stale || Date.now() >= deadline) return job;
      if (!this.running.has(id)) await sleep(200);
    }
  }

  /** Calls `listener` with the job after every batch and status change; returns the unsubscribe function. */
  subscribe(id: string, listener: (job: MigrationJob) => void): () => void {
    this.events.on(id, listener);
    return () => this.events.off(id, listener);
  }

  /** The job now, then after every batch and status change; completes when the job is finished. */
  progress$(id: string): Observable<MigrationJob> {
    return new Observable<MigrationJob>((sub) => {
      const off = this.subscribe(id, (job) => {
        sub.next(job);
        if (FINAL_STATUSES.has(job.status)) sub.complete();
      });
      this.get(id).then(
        (job) => {
          sub.next(job);
          if (FINAL_STATUSES.has(job.status) && !this.running.has(id)) sub.complete();
        },
        (e) => sub.error(e),
      );
      return off;
    });
  }

  /**
   * Compares source and target of a job (stored on the job), or of a kind of migration now: exact counts,
   * order-independent checksums of every row / vector, sampled recall@10 for vectors.
   */
  async verify(target: string | { kind: MigrationKind; source?: string }): Promise<MigrationVerification> {
    let job: MigrationJobEntity;
    if (typeof target === 'string') {
      job = await this.store.getEntity(target);
      if (this.running.has(job.id) || (job.status === 'RUNNING' && !this.store.isStale(job) && !ownerIsDead(job.owner, this.owner))) throw new SwitchyardError('MIGRATION_STATE', `job ${job.id} is still running`);
    } else {
      const kind = oneOf<MigrationKind>('kind', target?.kind, MIGRATION_KINDS);
      job = Object.assign(new MigrationJobEntity(), { id: 'verify', kind, source: kind === 'REINDEX' ? ACTIVE_PROFILE : (target.source ?? 'source'), target: this.targetLabel, onConflict: 'FAIL', batchSize: this.deps.defaultBatchSize, options: {} });
    }
    const ctx = await this.contexts.build(job, { readOnly: true });
    try {
      const rejected = typeof target === 'string' ? await new RejectFile(this.dataDir, job.id).ids() : new Map<string, Set<string>>();
      const verification = await verifyOf(ctx, job.batchSize, { rejected, seed: job.id, progress: job.progress as never });
      if (typeof target === 'string') await this.update(job, { verification });
      return verification;
    } finally {
      await ctx.close();
    }
  }

  /** Stops the jobs running in this process (they stay resumable). */
  async close(): Promise<void> {
    for (const r of this.running.values()) r.abort.abort('shutdown');
    await Promise.all([...this.running.values()].map((r) => r.done));
    await this.queueClient?.close();
    this.queueClient = undefined;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private batchSize(v: unknown): number {
    return intIn('batchSize', v, 1, 100_000, this.deps.defaultBatchSize);
  }

  private locks(job: Pick<MigrationJobEntity, 'dryRun' | 'kind'>): boolean {
    return !job.dryRun && job.kind !== 'EXPORT';
  }

  /**
   * The lock's key: the target's physical identity (not its label), so two instances that reach the same
   * database under different names still exclude each other.
   */
  private lockKey(): Promise<string> {
    this.lockKeyOnce ??= this.deps.target.relational.identity().catch((e) => {
      this.lockKeyOnce = undefined;
      throw e;
    });
    return this.lockKeyOnce;
  }

  /** A new run of an existing job: a new run id and this process as owner, with the lock, by compare-and-swap. */
  private async claim(job: MigrationJobEntity, dead: (holder: MigrationJobEntity) => boolean): Promise<void> {
    const key = this.locks({ dryRun: false, kind: job.kind }) ? await this.lockKey() : null;
    await this.store.claim(job, key, { runId: randomUUID(), owner: formatOwner(this.owner) }, dead);
  }

  private async create(kind: JobKind, fields: Pick<MigrationJobEntity, 'source' | 'target' | 'dryRun' | 'onConflict' | 'batchSize'> & { options: JobOptions }): Promise<MigrationJob> {
    const now = new Date();
    const id = randomUUID();
    const job = Object.assign(new MigrationJobEntity(), {
      id,
      kind,
      ...fields,
      options: { ...fields.options, rejectFile: new RejectFile(this.dataDir, id).relative },
      status: 'RUNNING',
      plan: null,
      progress: null,
      verification: null,
      backups: [],
      error: null,
      startedAt: now,
      finishedAt: null,
      heartbeatAt: now,
      runId: randomUUID(),
      owner: formatOwner(this.owner),
      createdAt: now, // with milliseconds on every driver, so list() orders jobs started in the same second
    });
    // The job row and the target's lock are committed together (one transaction): no window in which a
    // competitor sees a lock without its job, or a job that holds no lock.
    Object.assign(job, await this.store.createLocked(job, this.locks(job) ? await this.lockKey() : null, (h) => ownerIsDead(h.owner, this.owner)));
    return this.launch(job, true);
  }

  /** With the job recorded (and locked): opens and checks both sides, then runs it in the background. */
  private async launch(job: MigrationJobEntity, created: boolean): Promise<MigrationJob> {
    const key = this.locks(job) ? await this.lockKey() : null;
    const runId = job.runId!;
    let ctx: JobContext | undefined;
    try {
      job.heartbeatAt = new Date();
      if (!created) await this.store.patchAsRun(job.id, runId, this.pick(job, 'status', 'dryRun', 'onConflict', 'options', 'progress', 'verification', 'backups', 'error', 'startedAt', 'finishedAt', 'heartbeatAt'));
      // Also when run from a plan or resumed: the check at start() may be long past.
      if (writesVectors(job)) await this.guards.assertNotSwitching(job.kind);
      ctx = await this.contexts.build(job);
      if (!job.dryRun) {
        // A queued job keeps its progress in its partitions, not in checkpoints.
        const resumed = ctx.resumable && ((await this.store.checkpoints(job.id)).length > 0 || (await this.partitions.listLight(job.id)).length > 0);
        const refusal = ctx.refusal ?? (resumed ? await captureLost(job, ctx) : conflictRefusal(ctx, await targetCounts(ctx)));
        if (refusal) throw refusal;
      }
    } catch (e) {
      await ctx?.close().catch(() => undefined);
      await this.fail(job, e);
      if (key !== null) await this.store.unlock(key, job.id, runId).catch(() => undefined);
      if (e instanceof SwitchyardError) Object.assign(e.details, { jobId: job.id });
      throw e;
    }
    this.logger.log(`job ${job.id}: ${job.dryRun ? 'planning' : 'running'} ${job.kind} from ${job.source} into ${job.target} (onConflict ${job.onConflict}, batch ${job.batchSize}, run ${runId} in ${job.owner})`);
    const abort = new AbortController();
    const done = this.execute(job, ctx, abort, key).finally(() => this.running.delete(job.id));
    this.running.set(job.id, { abort, done });
    return this.store.toJob(job);
  }

  private pick<K extends keyof MigrationJobEntity>(job: MigrationJobEntity, ...keys: K[]): Pick<MigrationJobEntity, K> {
    return Object.fromEntries(keys.map((k) => [k, job[k]])) as Pick<MigrationJobEntity, K>;
  }

  private async execute(job: MigrationJobEntity, ctx: JobContext, abort: AbortController, key: string | null): Promise<void> {
    const runId = job.runId!;
    const signal = abort.signal;
    // The heartbeat is fenced too: when another run owns the job, this one is told to stop.
    const beat = setInterval(() => {
      this.store.patchAsRun(job.id, runId, { heartbeatAt: new Date() }).catch((e) => {
        if (e instanceof TakenOver) abort.abort('taken-over');
      });
    }, this.heartbeatMs);
    beat.unref();
    let release = key !== null;
    const run: Run = {
      job,
      ctx,
      runId,
      store: this.store,
      logger: this.logger,
      rejects: new RejectFile(this.dataDir, job.id),
      check: async () => {
        this.throwIfAborted(signal);
        const status = await this.store.assertRun(job.id, runId, key);
        if (status !== 'RUNNING') throw cancelled('cancelled from another process');
      },
      update: (fields) => this.update(job, fields, runId),
      emit: () => this.emit(job),
    };
    try {
      if (job.dryRun) {
        const plan = await planOf(ctx, true, job.batchSize, () => this.throwIfAborted(signal));
        await run.update({ status: 'PLANNED', plan, finishedAt: new Date() });
        this.logger.log(`job ${job.id}: planned${plan.refusal ? `; a run would be refused: ${plan.refusal.message}` : ''}`);
      } else if (this.deps.queue?.kind === 'bullmq' && queueable(run)) {
        this.queueClient ??= new BullmqPartitionQueue(this.deps.queue);
        await queuedCopy(run, this.queueClient, this.partitions, { partitionSize: this.deps.queue.partitionSize, idleWarnMs: Math.max(30_000, 3 * this.deps.queue.lockMs) });
      } else {
        await copyJob(run);
      }
    } catch (e) {
      const takenOver = e instanceof TakenOver || signal.reason === 'taken-over';
      if (!takenOver) await ctx.abort?.().catch(() => undefined); // else the new run owns the files now
      if (takenOver) {
        this.logger.warn(`job ${job.id}: ${errorMessage(e)}`);
        release = false; // the lock is the other run's now
      } else {
        await this.fail(job, ctx.live ? liveStopped(e) : e, runId);
      }
    } finally {
      clearInterval(beat);
      if (release && key !== null) await this.store.unlock(key, job.id, runId).catch((e) => this.logger.error(`job ${job.id}: could not release the lock: ${errorMessage(e)}`));
      await ctx.close().catch(() => undefined);
    }
  }

  private throwIfAborted(signal: AbortSignal): void {
    if (!signal.aborted) return;
    if (signal.reason === 'taken-over') throw new TakenOver('another process took this job over; stopping without writing more');
    throw cancelled(
      signal.reason === 'shutdown'
        ? 'stopped because the application shut down; resume it to continue from its last checkpoint'
        : 'cancelled by request; resume it to continue from its last checkpoint',
    );
  }

  private async fail(job: MigrationJobEntity, failure: unknown, runId?: string): Promise<void> {
    const e = relationalUnavailable(failure) ?? failure; // a database that stopped answering, not INTERNAL
    const code = e instanceof SwitchyardError ? e.code : 'INTERNAL';
    const status = code === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
    // Refusals (conflicts, mismatches, bad input) are the user's to fix; only breakage is an error.
    if (code === 'INTERNAL' || code === 'PROVIDER_UNAVAILABLE' || code === 'VERIFICATION_FAILED') this.logger.error(`job ${job.id}: ${job.kind} failed: ${errorMessage(e)}`);
    else this.logger.warn(`job ${job.id}: ${job.kind} ${status === 'CANCELLED' ? 'stopped' : 'refused'}: ${errorMessage(e)}`);
    await this.update(job, { status, error: joinError(code, errorMessage(e)), finishedAt: new Date() }, runId ?? job.runId ?? undefined).catch((err) =>
      this.logger.error(`job ${job.id}: could not record the failure: ${errorMessage(err)}`),
    );
  }

  /** Updates the job; with `runId`, only while that run owns it (TakenOver otherwise). */
  private async update(job: MigrationJobEntity, fields: Partial<MigrationJobEntity>, runId?: string): Promise<void> {
    Object.assign(job, fields);
    if (runId) await this.store.patchAsRun(job.id, runId, fields);
    else await this.store.patch(job.id, fields);
    this.emit(job);
  }

  private emit(job: MigrationJobEntity): void {
    // A snapshot: the run keeps mutating its progress object.
    if (this.events.listenerCount(job.id)) this.events.emit(job.id, structuredClone(this.store.toJob(job)));
  }
}
