import { SwitchyardError } from '@switchyard/core';
import { MigrationCheckpointEntity, MigrationJobEntity, MigrationLockEntity, RelationalDb } from '@switchyard/relational-db';
import type { MigrationJob } from './migration.types';

/** Jobs, checkpoints and locks, in the target's relational DB (so they survive the process). */
export class JobStore {
  constructor(
    private readonly db: RelationalDb,
    private readonly staleAfterMs: number,
  ) {}

  private get jobs() {
    return this.db.repository(MigrationJobEntity);
  }

  private get checkpointsRepo() {
    return this.db.repository(MigrationCheckpointEntity);
  }

  private get locks() {
    return this.db.repository(MigrationLockEntity);
  }

  async create(job: Partial<MigrationJobEntity> & Pick<MigrationJobEntity, 'id'>): Promise<MigrationJobEntity> {
    await this.jobs.insert(job as never);
    return this.getEntity(job.id);
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

  /** The job's status and which run (process) owns it now. */
  async runState(id: string): Promise<{ status: string | null; runId: string | null }> {
    const j = await this.jobs.findOne({ select: { id: true, status: true, options: true }, where: { id } });
    return { status: j?.status ?? null, runId: ((j?.options ?? {}) as { runId?: string }).runId ?? null };
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
      startedAt: e.startedAt,
      finishedAt: e.finishedAt,
      heartbeatAt: e.heartbeatAt,
      createdAt: e.createdAt,
      updatedAt: e.updatedAt,
      stale: this.isStale(e),
    };
  }

  // ---- checkpoints -------------------------------------------------------------------------
  checkpoints(jobId: string): Promise<MigrationCheckpointEntity[]> {
    return this.checkpointsRepo.find({ where: { jobId } });
  }

  async clearCheckpoints(jobId: string): Promise<void> {
    await this.checkpointsRepo.delete({ jobId });
  }

  /** Commits a step's checkpoint and the job's progress together, with a heartbeat. */
  async checkpoint(cp: Pick<MigrationCheckpointEntity, 'jobId' | 'step' | 'cursor' | 'done' | 'total' | 'finished'>, progress?: unknown): Promise<void> {
    await this.db.dataSource.transaction(async (em) => {
      await em.getRepository(MigrationCheckpointEntity).upsert(cp, ['jobId', 'step']);
      await em.getRepository(MigrationJobEntity).update({ id: cp.jobId }, { heartbeatAt: new Date(), ...(progress === undefined ? {} : { progress: progress as never }) });
    });
  }

  // ---- lock ----------------------------------------------------------------------------------
  /**
   * Takes the target's lock for a job. A lock left by a finished job, or held by the job itself, is taken
   * over; `takeOverStale` also takes one whose job died (resume). Otherwise MIGRATION_LOCKED names the holder.
   */
  async lock(target: string, jobId: string, takeOverStale: boolean): Promise<void> {
    try {
      await this.locks.insert({ target, jobId, acquiredAt: new Date() });
      return;
    } catch (e) {
      const held = await this.locks.findOne({ where: { target } });
      if (!held) throw e;
      if (held.jobId !== jobId) {
        const holder = await this.jobs.findOne({ where: { id: held.jobId } });
        const finished = !holder || !['RUNNING', 'PLANNED'].includes(holder.status);
        const stale = holder ? this.isStale(holder) : true;
        if (!finished && !(stale && takeOverStale)) {
          const why = stale
            ? `job ${held.jobId} holds it but its process stopped sending heartbeats at ${holder?.heartbeatAt?.toISOString() ?? 'start'}: resume it (resumeMigration) or cancel it`
            : `job ${held.jobId} (${holder?.kind}) is running since ${holder?.startedAt?.toISOString() ?? held.acquiredAt.toISOString()}`;
          throw new SwitchyardError('MIGRATION_LOCKED', `Another migration is running against ${target}: ${why}.`, { holder: held.jobId, stale });
        }
      }
      const r = await this.locks.update({ target, jobId: held.jobId }, { jobId, acquiredAt: new Date() });
      if (r.affected === 0) throw new SwitchyardError('MIGRATION_LOCKED', `Another migration took the lock on ${target} at the same moment; try again.`, { target });
    }
  }

  async unlock(target: string, jobId: string): Promise<void> {
    await this.locks.delete({ target, jobId });
  }

  async lockHolder(target: string): Promise<string | null> {
    return (await this.locks.findOne({ where: { target } }))?.jobId ?? null;
  }
}

/** Errors are stored as "CODE: message". */
export function joinError(code: string, message: string): string {
  return `${code}: ${message}`;
}

function splitError(stored: string | null): [string | null, string | null] {
  if (!stored) return [null, null];
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(stored);
  return m ? [m[2], m[1]] : [stored, null];
}
