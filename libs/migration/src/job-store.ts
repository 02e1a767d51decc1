import { SwitchyardError } from '@switchyard/core';
import { MigrationCheckpointEntity, MigrationJobEntity, MigrationLockEntity, RelationalDb } from '@switchyard/relational-db';
import { EntityManager, In, IsNull } from 'typeorm';
import type { MigrationJob, ReindexMode } from './migration.types';

/**
 * One transaction at a time per DataSource in this process: TypeORM's SQLite drivers share one
 * connection, so two concurrent transactions would nest as savepoints of each other.
 */
const queues = new WeakMap<object, Promise<unknown>>();
export function serialized<T>(key: object, fn: () => Promise<T>): Promise<T> {
  const prev = queues.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  queues.set(key, run.catch(() => undefined));
  return run;
}

/** Jobs, checkpoints and locks, in the target's relational DB (so they survive the process). */
export class JobStore {
  constructor(
    private readonly db: RelationalDb,
    private readonly staleAfterMs: number,
  ) {}

  private tx<T>(fn: (em: EntityManager) => Promise<T>): Promise<T> {
    const ds = this.db.dataSource;
    return serialized(ds, () => ds.transaction(fn));
  }

  private get jobs() {
    return this.db.repository(MigrationJobEntity);
  }

  private get checkpointsRepo() {
    return this.db.repository(MigrationCheckpointEntity);
  }

  private get locks() {
    return this.db.repository(MigrationLockEntity);
  }

  async getEntity(id: string): Promise<MigrationJobEntity> {
    const job = await this.jobs.findOne({ where: { id } });
    if (!job) throw new SwitchyardError('NOT_FOUND', `migration job ${JSON.stringify(id)} does not exist`, { id });
    return job;
  }

  async get(id: string): Promise<MigrationJob> {
    return this.toJob(await this.getEntity(id));
  }

  async list(limit = 100): Promise<MigrationJob[]> {
    return (await this.jobs.find({ order: { createdAt: 'DESC', id: 'ASC' }, take: limit })).map((j) => this.toJob(j));
  }

  async patch(id: string, fields: Partial<MigrationJobEntity>): Promise<void> {
    await this.jobs.update({ id }, fields as never);
  }

  isStale(job: Pick<MigrationJobEntity, 'status' | 'heartbeatAt' | 'updatedAt'>): boolean {
    if (job.status !== 'RUNNING') return false;
    const last = job.heartbeatAt ?? job.updatedAt;
    return !last || Date.now() - last.getTime() > this.staleAfterMs;
  }

  toJob(e: MigrationJobEntity): MigrationJob {
    const [error, errorCode] = splitError(e.error);
    return {
      id: e.id,
      kind: e.kind as MigrationJob['kind'],
      status: e.status as MigrationJob['status'],
      source: e.source,
      target: e.target,
      dryRun: e.dryRun,
      onConflict: e.onConflict as MigrationJob['onConflict'],
      batchSize: e.batchSize,
      options: (e.options ?? {}) as MigrationJob['options'],
      plan: (e.plan ?? null) as MigrationJob['plan'],
      progress: (e.progress ?? null) as MigrationJob['progress'],
      verification: (e.verification ?? null) as MigrationJob['verification'],
      backups: (e.backups ?? []) as MigrationJob['backups'],
      error,
      errorCode,
      rejectFile: ((e.options ?? {}) as { rejectFile?: string }).rejectFile ?? null,
      owner: e.owner ?? null,
      startedAt: e.startedAt,
      finishedAt: e.finishedAt,
      heartbeatAt: e.heartbeatAt,
      createdAt: e.createdAt,
      updatedAt: e.updatedAt,
      stale: this.isStale(e),
      mode: e.kind === 'REINDEX' ? (((e.options ?? {}) as { mode?: ReindexMode }).mode ?? 'IN_PLACE') : null,
    };
  }

  // ---- checkpoints -------------------------------------------------------------------------
  checkpoints(jobId: string): Promise<MigrationCheckpointEntity[]> {
    return this.checkpointsRepo.find({ where: { jobId } });
  }

  async clearCheckpoints(jobId: string): Promise<void> {
    await this.checkpointsRepo.delete({ jobId });
  }

  /** Commits a step's checkpoint and the job's progress together, with a heartbeat, only while `runId` owns the job (else TakenOver, nothing committed). */
  async checkpoint(cp: Pick<MigrationCheckpointEntity, 'jobId' | 'step' | 'cursor' | 'done' | 'total' | 'finished'>, runId: string, progress?: unknown): Promise<void> {
    await this.tx(async (em) => {
      const r = await em.getRepository(MigrationJobEntity).update({ id: cp.jobId, runId }, { heartbeatAt: new Date(), ...(progress === undefined ? {} : { progress: progress as never }) });
      if (!r.affected) throw new TakenOver(`job ${cp.jobId} belongs to another run now; this run's checkpoint was not committed`);
      await em.getRepository(MigrationCheckpointEntity).upsert(cp, ['jobId', 'step']);
    });
  }

  // ---- lock and fencing -------------------------------------------------------------------------
  /**
   * Records a new job and, for a job that writes, takes the target's lock for it, in ONE transaction: a
   * competitor either sees no lock (and its own insert waits for ours, then fails on the key) or sees the
   * lock together with its job. A lock left by a finished job is taken over by compare-and-swap.
   */
  async createLocked(job: MigrationJobEntity, target: string | null, dead: (holder: MigrationJobEntity) => boolean = () => false): Promise<MigrationJobEntity> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.tx(async (em) => {
          await em.getRepository(MigrationJobEntity).insert(job as never);
          if (target !== null) await em.getRepository(MigrationLockEntity).insert({ target, jobId: job.id, runId: job.runId, owner: job.owner, acquiredAt: new Date() });
        });
        return this.getEntity(job.id);
      } catch (e) {
        if (target === null) throw e;
        const held = await this.locks.findOne({ where: { target } });
        if (!held) {
          if (attempt < 3) continue; // released between our insert and our look: try again
          throw e;
        }
        const holder = await this.jobs.findOne({ where: { id: held.jobId } });
        if (holder && ['RUNNING', 'PLANNED'].includes(holder.status)) throw this.locked(target, held, holder, dead(holder));
        // The holder finished (or is gone): take the lock over, but only if nobody else did meanwhile.
        const taken = await this.tx(async (em) => {
          const r = await em.getRepository(MigrationLockEntity).update({ target, jobId: held.jobId, runId: held.runId ?? IsNull() }, { jobId: job.id, runId: job.runId, owner: job.owner, acquiredAt: new Date() });
          if (!r.affected) return false;
          await em.getRepository(MigrationJobEntity).insert(job as never);
          return true;
        });
        if (taken) return this.getEntity(job.id);
        if (attempt >= 3) throw new SwitchyardError('MIGRATION_LOCKED', `Another migration took the lock on ${target} at the same moment; try again.`, { target });
      }
    }
  }

  /**
   * Gives an existing job (resume, run of a plan) a new run: the lock (if the job writes) and the job's
   * run id change together, by compare-and-swap on the run that held them. `dead` decides whether a RUNNING
   * holder may be taken over (its process is known dead, or its heartbeat is stale).
   */
  async claim(job: MigrationJobEntity, target: string | null, next: { runId: string; owner: string }, dead: (holder: MigrationJobEntity) => boolean): Promise<void> {
    const previousRun = job.runId;
    await this.tx(async (em) => {
      await this.claimIn(em, job, target, next, previousRun, dead);
    }).catch(async (e) => {
      if (e instanceof SwitchyardError) throw e;
      // Lost a race on the lock's key (another process inserted it first, or SQLite's snapshot moved on).
      const held = target === null ? null : await this.locks.findOne({ where: { target } });
      if (held && held.runId !== next.runId) throw new SwitchyardError('MIGRATION_LOCKED', `Another process took the lock on ${target} at the same moment (job ${held.jobId}).`, { target, holder: held.jobId });
      throw e;
    });
    Object.assign(job, next);
  }

  private async claimIn(em: EntityManager, job: MigrationJobEntity, target: string | null, next: { runId: string; owner: string }, previousRun: string | null, dead: (holder: MigrationJobEntity) => boolean): Promise<void> {
    {
      const locks = em.getRepository(MigrationLockEntity);
      if (target !== null) {
        const held = await locks.findOne({ where: { target } });
        if (!held) {
          await locks.insert({ target, jobId: job.id, runId: next.runId, owner: next.owner, acquiredAt: new Date() });
        } else {
          const holder = held.jobId === job.id ? job : await em.getRepository(MigrationJobEntity).findOne({ where: { id: held.jobId } });
          const busy = holder && ['RUNNING', 'PLANNED'].includes(holder.status) && (held.jobId !== job.id || holder.status === 'RUNNING');
          if (busy && !dead(holder)) throw this.locked(target, held, holder, false);
          const r = await locks.update({ target, jobId: held.jobId, runId: held.runId ?? IsNull() }, { jobId: job.id, runId: next.runId, owner: next.owner, acquiredAt: new Date() });
          if (!r.affected) throw new SwitchyardError('MIGRATION_LOCKED', `Another process took the lock on ${target} at the same moment; it runs the job now.`, { target });
        }
      }
      // The job is RUNNING from the same commit that gives it the lock: no moment in which a competitor
      // sees the lock held by a "finished" job and takes it.
      const r = await em.getRepository(MigrationJobEntity).update({ id: job.id, runId: previousRun ?? IsNull() }, { runId: next.runId, owner: next.owner, heartbeatAt: new Date(), status: 'RUNNING', finishedAt: null });
      if (!r.affected) throw new SwitchyardError('MIGRATION_LOCKED', `job ${job.id} was resumed by another process at the same moment; it runs there now.`, { id: job.id });
    }
  }

  private locked(target: string, held: MigrationLockEntity, holder: MigrationJobEntity | null, dead: boolean): SwitchyardError {
    const stale = holder ? this.isStale(holder) : true;
    const why = dead && !stale
      ? `job ${held.jobId} holds it but its process (${holder?.owner}) is gone: resume it (resumeMigration) or cancel it`
      : stale
      ? `job ${held.jobId} holds it but its process stopped sending heartbeats at ${holder?.heartbeatAt?.toISOString() ?? 'start'}: resume it (resumeMigration) or cancel it`
      : `job ${held.jobId} (${holder?.kind}) is running since ${holder?.startedAt?.toISOString() ?? held.acquiredAt.toISOString()}${holder?.owner ? ` in ${holder.owner}` : ''}`;
    return new SwitchyardError('MIGRATION_LOCKED', `Another migration is running against ${target}: ${why}.`, { holder: held.jobId, stale: stale || dead });
  }

  /** Throws TakenOver unless `runId` still owns the job (and its lock, if it holds one). */
  async assertRun(jobId: string, runId: string, target: string | null): Promise<string> {
    const j = await this.jobs.findOne({ select: { id: true, runId: true, status: true }, where: { id: jobId } });
    if (!j || j.runId !== runId) throw new TakenOver(`another process resumed this job (this one was thought dead; run ${j?.runId ?? 'none'} instead of ${runId}); stopping without writing more`);
    if (target !== null) {
      const held = await this.locks.findOne({ where: { target } });
      if (!held || held.jobId !== jobId || held.runId !== runId) throw new TakenOver(`the lock on ${target} is no longer this run's; this run stops without writing more`);
    }
    return j.status;
  }

  /** Updates the job only while `runId` owns it; throws TakenOver otherwise. */
  async patchAsRun(id: string, runId: string, fields: Partial<MigrationJobEntity>): Promise<void> {
    const r = await this.jobs.update({ id, runId }, fields as never);
    if (!r.affected) throw new TakenOver(`job ${id} belongs to another run now; this run's update was not applied`);
  }

  /**
   * Marks a job CANCELLED only if it is still held by `runId` and still RUNNING / PLANNED (compare-and-swap):
   * a job that just finished, or that another process just resumed, is left alone. Returns whether it was.
   */
  async cancelRun(id: string, runId: string | null, fields: Partial<MigrationJobEntity>): Promise<boolean> {
    const r = await this.jobs.update({ id, runId: runId ?? IsNull(), status: In(['RUNNING', 'PLANNED']) }, { ...fields, status: 'CANCELLED' } as never);
    return (r.affected ?? 0) > 0;
  }

  async unlock(target: string, jobId: string, runId?: string | null): Promise<void> {
    await this.locks.delete(runId === undefined ? { target, jobId } : { target, jobId, runId: runId ?? IsNull() });
  }

  async lockHolder(target: string): Promise<string | null> {
    return (await this.locks.findOne({ where: { target } }))?.jobId ?? null;
  }
}

/** This run lost the job to a resume elsewhere (it was thought dead): it stops without touching the job or lock. */
export class TakenOver extends Error {}

/** Errors are stored as "CODE: message". */
export function joinError(code: string, message: string): string {
  return `${code}: ${message}`;
}

function splitError(stored: string | null): [string | null, string | null] {
  if (!stored) return [null, null];
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(stored);
  return m ? [m[2], m[1]] : [stored, null];
}
