import { Logger, OnApplicationShutdown } from '@nestjs/common';
import { BadInputError, errorMessage, SwitchyardError } from '@switchyard/core';
import { createChunker } from '@switchyard/knowledge';
import { MigrationCheckpointEntity, MigrationJobEntity } from '@switchyard/relational-db';
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable } from 'rxjs';
import type { WriteMode } from './datasets';
import { ContextBuilder, JobContext } from './job-context';
import { joinError, JobStore } from './job-store';
import {
  ACTIVE_PROFILE,
  Backup,
  CONFLICT_POLICIES,
  ConflictPolicy,
  DATASET_KINDS,
  ExportInput,
  ImportInput,
  JobKind,
  JobOptions,
  MIGRATION_KINDS,
  MigrationDeps,
  MigrationJob,
  MigrationKind,
  MigrationLogger,
  MigrationProgress,
  MigrationVerification,
  ResumeOptions,
  StartMigrationInput,
} from './migration.types';
import { resolveDataPath } from './ndjson';
import { copyPages } from './pipeline';
import { conflictRefusal, planOf, targetCounts, verifyOf } from './verification';

type Checkpoint = Pick<MigrationCheckpointEntity, 'jobId' | 'step' | 'cursor' | 'done' | 'total' | 'finished'>;

const WRITE_MODE: Record<ConflictPolicy, WriteMode> = { FAIL: 'error', SKIP: 'skip', OVERWRITE: 'overwrite', TRUNCATE: 'overwrite' };
const FINAL = new Set(['PLANNED', 'SUCCEEDED', 'FAILED', 'CANCELLED']);
const MAX_REJECTED = 10;

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[], fallback?: T): T {
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw new BadInputError(field, `is required; allowed: ${allowed.join(', ')}`);
  }
  if (!allowed.includes(value as T)) throw new BadInputError(field, `got ${JSON.stringify(value)}; allowed: ${allowed.join(', ')}`);
  return value as T;
}

function intIn(field: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new BadInputError(field, `got ${JSON.stringify(value)}; allowed: an integer from ${min} to ${max}`);
  }
  return value as number;
}

/** A job whose status is CANCELLED was stopped; anything else is a failure. */
function cancelled(why: string): SwitchyardError {
  return new SwitchyardError('CANCELLED', why);
}

/** This run lost the job to a resume elsewhere (it was thought dead): it stops without touching the job or lock. */
class TakenOver extends Error {}

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
  private readonly targetKey: string;
  private readonly heartbeatMs: number;
  private readonly dataDir: string;

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
    });
    this.logger = deps.logger ?? new Logger('Migration');
    this.targetKey = deps.target.relational.label;
    this.heartbeatMs = Math.max(100, Math.floor(staleAfterMs / 3));
    this.events.setMaxListeners(0);
  }

  // ---- operations ------------------------------------------------------------------------------

  /** Plans (dryRun) or runs a migration from a source profile into the active providers. */
  async start(input: StartMigrationInput): Promise<MigrationJob> {
    const kind = oneOf<MigrationKind>('kind', input?.kind, MIGRATION_KINDS);
    const source = kind === 'REINDEX' ? ACTIVE_PROFILE : (input.source ?? 'source');
    this.contexts.profile(source);
    return this.create(kind, {
      source,
      target: this.targetKey,
      dryRun: input.dryRun === true,
      onConflict: oneOf('onConflict', input.onConflict, CONFLICT_POLICIES, 'FAIL'),
      batchSize: this.batchSize(input.batchSize),
      options: { throttleMs: intIn('throttleMs', input.throttleMs, 0, 60_000, 0) },
    });
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
      target: this.targetKey,
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
      target: this.targetKey,
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
    Object.assign(job, { dryRun: false, status: 'RUNNING', startedAt: new Date(), finishedAt: null, error: null });
    return this.launch(job, { create: false, takeOverStale: false });
  }

  /**
   * Continues an interrupted job (FAILED, CANCELLED, or RUNNING in a process that died) from its last
   * checkpoints. A SUCCEEDED job is left alone unless `overwrite` asks to run it again with OVERWRITE.
   */
  async resume(id: string, options: ResumeOptions = {}): Promise<MigrationJob> {
    const job = await this.store.getEntity(id);
    if (this.running.has(id)) return this.store.toJob(job);
    if (job.status === 'SUCCEEDED' && !options.overwrite) return this.store.toJob(job);
    if (job.status === 'RUNNING' && !this.store.isStale(job)) {
      throw new SwitchyardError('MIGRATION_STATE', `job ${id} is running in another process (last heartbeat ${job.heartbeatAt?.toISOString()}); cancel it first or wait for it`, { id });
    }
    if (job.status === 'SUCCEEDED') {
      await this.store.clearCheckpoints(id);
      Object.assign(job, { onConflict: 'OVERWRITE', progress: null, verification: null, startedAt: new Date() });
    }
    Object.assign(job, { status: 'RUNNING', finishedAt: null, error: null });
    return this.launch(job, { create: false, takeOverStale: true });
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
    const stale = this.store.isStale(job);
    await this.update(job, { status: 'CANCELLED', error: joinError('CANCELLED', 'cancelled by request; resume it to continue from its last checkpoint'), finishedAt: new Date() });
    // A live process sees the status at its next batch and releases the lock itself.
    if (stale) await this.store.unlock(this.targetKey, id);
    return this.store.toJob(job);
  }

  get(id: string): Promise<MigrationJob> {
    return this.store.get(id);
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
        if (FINAL.has(job.status)) sub.complete();
      });
      this.get(id).then(
        (job) => {
          sub.next(job);
          if (FINAL.has(job.status) && !this.running.has(id)) sub.complete();
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
      if (this.running.has(job.id) || (job.status === 'RUNNING' && !this.store.isStale(job))) throw new SwitchyardError('MIGRATION_STATE', `job ${job.id} is still running`);
    } else {
      const kind = oneOf<MigrationKind>('kind', target?.kind, MIGRATION_KINDS);
      job = Object.assign(new MigrationJobEntity(), { id: 'verify', kind, source: kind === 'REINDEX' ? ACTIVE_PROFILE : (target.source ?? 'source'), target: this.targetKey, onConflict: 'FAIL', batchSize: this.deps.defaultBatchSize, options: {} });
    }
    const ctx = await this.contexts.build(job);
    try {
      const verification = await verifyOf(ctx, job.batchSize);
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
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  private batchSize(v: unknown): number {
    return intIn('batchSize', v, 1, 100_000, this.deps.defaultBatchSize);
  }

  private locks(job: MigrationJobEntity): boolean {
    return !job.dryRun && job.kind !== 'EXPORT';
  }

  private create(kind: JobKind, fields: Pick<MigrationJobEntity, 'source' | 'target' | 'dryRun' | 'onConflict' | 'batchSize'> & { options: JobOptions }): Promise<MigrationJob> {
    const now = new Date();
    const job = Object.assign(new MigrationJobEntity(), {
      id: randomUUID(),
      kind,
      ...fields,
      status: 'RUNNING',
      plan: null,
      progress: null,
      verification: null,
      backups: [],
      error: null,
      startedAt: now,
      finishedAt: null,
      heartbeatAt: now,
      createdAt: now, // with milliseconds on every driver, so list() orders jobs started in the same second
    });
    return this.launch(job, { create: true, takeOverStale: false });
  }

  /** Locks the target, records the job, opens and checks both sides, then runs it in the background. */
  private async launch(job: MigrationJobEntity, o: { create: boolean; takeOverStale: boolean }): Promise<MigrationJob> {
    const locks = this.locks(job);
    if (locks) await this.store.lock(this.targetKey, job.id, o.takeOverStale);
    let ctx: JobContext | undefined;
    try {
      job.heartbeatAt = new Date();
      job.options = { ...((job.options ?? {}) as JobOptions), runId: randomUUID() };
      if (o.create) Object.assign(job, await this.store.create(job));
      else await this.store.patch(job.id, this.pick(job, 'status', 'dryRun', 'onConflict', 'options', 'progress', 'verification', 'error', 'startedAt', 'finishedAt', 'heartbeatAt'));
      ctx = await this.contexts.build(job);
      if (!job.dryRun) {
        const resumed = ctx.resumable && (await this.store.checkpoints(job.id)).length > 0;
        const refusal = ctx.refusal ?? (resumed ? null : conflictRefusal(ctx, await targetCounts(ctx)));
        if (refusal) throw refusal;
      }
    } catch (e) {
      await ctx?.close().catch(() => undefined);
      if (locks) await this.store.unlock(this.targetKey, job.id).catch(() => undefined);
      if (o.create && !job.createdAt) throw e;
      await this.fail(job, e);
      if (e instanceof SwitchyardError) Object.assign(e.details, { jobId: job.id });
      throw e;
    }
    this.logger.log(`job ${job.id}: ${job.dryRun ? 'planning' : 'running'} ${job.kind} from ${job.source} into ${job.target} (onConflict ${job.onConflict}, batch ${job.batchSize})`);
    const abort = new AbortController();
    const done = this.execute(job, ctx, abort.signal, locks).finally(() => this.running.delete(job.id));
    this.running.set(job.id, { abort, done });
    return this.store.toJob(job);
  }

  private pick<K extends keyof MigrationJobEntity>(job: MigrationJobEntity, ...keys: K[]): Pick<MigrationJobEntity, K> {
    return Object.fromEntries(keys.map((k) => [k, job[k]])) as Pick<MigrationJobEntity, K>;
  }

  private async execute(job: MigrationJobEntity, ctx: JobContext, signal: AbortSignal, locks: boolean): Promise<void> {
    const beat = setInterval(() => void this.store.patch(job.id, { heartbeatAt: new Date() }).catch(() => undefined), this.heartbeatMs);
    beat.unref();
    try {
      if (job.dryRun) {
        const plan = await planOf(ctx, true, job.batchSize, () => this.throwIfAborted(signal));
        await this.update(job, { status: 'PLANNED', plan, finishedAt: new Date() });
        this.logger.log(`job ${job.id}: planned${plan.refusal ? `; a run would be refused: ${plan.refusal.message}` : ''}`);
      } else {
        await this.copy(job, ctx, signal);
      }
    } catch (e) {
      await ctx.abort?.().catch(() => undefined);
      if (e instanceof TakenOver) {
        this.logger.warn(`job ${job.id}: ${e.message}`);
        locks = false; // the lock row is the job's, now held by the run that took it over
      } else {
        await this.fail(job, e);
      }
    } finally {
      clearInterval(beat);
      if (locks) await this.store.unlock(this.targetKey, job.id).catch((e) => this.logger.error(`job ${job.id}: could not release the lock: ${errorMessage(e)}`));
      await ctx.close().catch(() => undefined);
    }
  }

  private throwIfAborted(signal: AbortSignal): void {
    if (!signal.aborted) return;
    throw cancelled(
      signal.reason === 'shutdown'
        ? 'stopped because the application shut down; resume it to continue from its last checkpoint'
        : 'cancelled by request; resume it to continue from its last checkpoint',
    );
  }

  /** Backups, then TRUNCATE, then every step from its checkpoint, then verification. */
  private async copy(job: MigrationJobEntity, ctx: JobContext, signal: AbortSignal): Promise<void> {
    const policy = job.onConflict as ConflictPolicy;
    if (!ctx.resumable) await this.store.clearCheckpoints(job.id);
    const existing: Checkpoint[] = ctx.resumable ? await this.store.checkpoints(job.id) : [];
    const resumed = existing.length > 0;
    if (!job.plan) await this.update(job, { plan: await planOf(ctx, false, job.batchSize) });
    if (!resumed) await this.prepareTarget(job, ctx, policy);
    await ctx.before?.();

    const totals = await Promise.all(ctx.steps.map((s) => s.source.count()));
    const cps = new Map(existing.map((c) => [c.step, c]));
    for (const [i, s] of ctx.steps.entries()) {
      if (cps.has(s.name)) continue;
      const cp: Checkpoint = { jobId: job.id, step: s.name, cursor: null, done: 0, total: totals[i], finished: false };
      cps.set(s.name, cp);
      await this.store.checkpoint(cp);
    }
    const progress = this.progressOf(job, ctx, totals, cps);
    const started = Date.now();
    let doneThisRun = 0;
    const runId = (job.options as JobOptions).runId;
    const check = async () => {
      this.throwIfAborted(signal);
      const now = await this.store.runState(job.id);
      if (now.runId !== runId) throw new TakenOver('another process resumed this job (this one was thought dead); stopping without writing more');
      if (now.status !== 'RUNNING') throw cancelled('cancelled from another process');
    };
    const mode = WRITE_MODE[policy];
    const resumeMode: WriteMode = policy === 'SKIP' ? 'skip' : 'overwrite';

    for (const [i, s] of ctx.steps.entries()) {
      const cp = cps.get(s.name)!;
      const sp = progress.steps[i];
      if (cp.finished) continue;
      const t0 = Date.now();
      const baseMs = sp.ms;
      const save = async () => {
        progress.done = [...cps.values()].reduce((n, c) => n + c.done, 0);
        const secs = (Date.now() - started) / 1000;
        progress.ratePerSecond = secs > 0 ? Math.round((doneThisRun / secs) * 10) / 10 : 0;
        progress.etaSeconds = progress.ratePerSecond > 0 ? Math.round((progress.total - progress.done) / progress.ratePerSecond) : null;
        sp.ms = baseMs + Date.now() - t0;
        job.progress = progress;
        job.heartbeatAt = new Date();
        await this.store.checkpoint(cp, progress);
        this.emit(job);
      };
      if (s.run) {
        await check();
        await s.run();
      } else {
        await s.target.prepare?.();
        try {
          await copyPages({
            reader: s.source,
            writer: s.target,
            pageSize: job.batchSize,
            after: cp.cursor ?? undefined,
            mode: { first: resumed ? resumeMode : mode, rest: mode },
            check,
            throttleMs: (job.options as JobOptions | null)?.throttleMs,
            onBatch: async (b) => {
              sp.read += b.page.units;
              sp.written += b.written;
              sp.skipped += b.skipped;
              sp.errors += b.rejected.length;
              sp.rejected.push(...b.rejected.slice(0, Math.max(0, MAX_REJECTED - sp.rejected.length)));
              cp.cursor = b.page.cursor;
              cp.done += b.page.units;
              doneThisRun += b.page.units;
              await save();
            },
          });
        } catch (e) {
          await s.target.finish?.().catch(() => undefined);
          throw e;
        }
        await s.target.finish?.();
      }
      cp.finished = true;
      sp.finished = true;
      await save();
    }
    await ctx.after?.();
    progress.phase = 'verify';
    await this.update(job, { progress });
    const verification = await verifyOf(ctx, job.batchSize);
    await check();
    progress.phase = 'done';
    await this.update(job, { status: 'SUCCEEDED', verification, progress, finishedAt: new Date(), error: null });
    this.logger.log(
      `job ${job.id}: ${job.kind} succeeded; verification ${verification.ok ? 'ok' : 'FAILED'}; ` +
        progress.steps.map((s) => `${s.name}: read ${s.read}, written ${s.written}, skipped ${s.skipped}, errors ${s.errors}, ${s.ms} ms`).join('; '),
    );
  }

  /** First run only: back up what TRUNCATE / OVERWRITE would replace, then empty the targets for TRUNCATE. */
  private async prepareTarget(job: MigrationJobEntity, ctx: JobContext, policy: ConflictPolicy): Promise<void> {
    if (ctx.backups && (policy === 'TRUNCATE' || policy === 'OVERWRITE')) {
      const backups = [...((job.backups ?? []) as Backup[])];
      for (const s of ctx.steps) {
        if (!s.backup || backups.some((b) => b.step === s.name) || (await s.target.count()) === 0) continue;
        const b = await s.backup(job.id.slice(0, 8));
        backups.push(b);
        await this.update(job, { backups });
        this.logger.log(`job ${job.id}: backed up ${s.target.label} (${b.rows} records) to ${b.kind === 'table' ? 'table' : 'file'} ${b.name}`);
      }
    }
    if (policy === 'TRUNCATE' || (policy === 'OVERWRITE' && ctx.clearOnOverwrite)) {
      for (const s of ctx.steps) {
        if (s.run) continue;
        this.logger.warn(`job ${job.id}: emptying ${s.target.label} (onConflict ${policy})`);
        await s.target.clear();
      }
    }
  }

  /** Progress of this run, carrying over the counters of earlier runs of the job. */
  private progressOf(job: MigrationJobEntity, ctx: JobContext, totals: number[], cps: Map<string, Checkpoint>): MigrationProgress {
    const previous = (job.progress as MigrationProgress | null)?.steps ?? [];
    const steps = ctx.steps.map((s, i) => {
      const p = previous.find((x) => x.name === s.name);
      const cp = cps.get(s.name)!;
      return { name: s.name, total: totals[i], read: cp.done, written: p?.written ?? 0, skipped: p?.skipped ?? 0, errors: p?.errors ?? 0, ms: p?.ms ?? 0, finished: cp.finished, rejected: p?.rejected ?? [] };
    });
    return { total: totals.reduce((a, b) => a + b, 0), done: steps.reduce((n, s) => n + s.read, 0), ratePerSecond: 0, etaSeconds: null, phase: 'copy', steps };
  }

  private async fail(job: MigrationJobEntity, e: unknown): Promise<void> {
    const code = e instanceof SwitchyardError ? e.code : 'INTERNAL';
    const status = code === 'CANCELLED' ? 'CANCELLED' : 'FAILED';
    // Refusals (conflicts, mismatches, bad input) are the user's to fix; only breakage is an error.
    if (code === 'INTERNAL' || code === 'PROVIDER_UNAVAILABLE') this.logger.error(`job ${job.id}: ${job.kind} failed: ${errorMessage(e)}`);
    else this.logger.warn(`job ${job.id}: ${job.kind} ${status === 'CANCELLED' ? 'stopped' : 'refused'}: ${errorMessage(e)}`);
    await this.update(job, { status, error: joinError(code, errorMessage(e)), finishedAt: new Date() }).catch((err) => this.logger.error(`job ${job.id}: could not record the failure: ${errorMessage(err)}`));
  }

  private async update(job: MigrationJobEntity, fields: Partial<MigrationJobEntity>): Promise<void> {
    Object.assign(job, fields);
    await this.store.patch(job.id, fields);
    this.emit(job);
  }

  private emit(job: MigrationJobEntity): void {
    // A snapshot: the run keeps mutating its progress object.
    if (this.events.listenerCount(job.id)) this.events.emit(job.id, structuredClone(this.store.toJob(job)));
  }
}
