import { BadInputError, SwitchyardError } from '@switchyard/core';
import type { Generation, ModelGenerations } from '@switchyard/knowledge';
import type { MigrationJobEntity } from '@switchyard/relational-db';
import { backUpCollection } from './collection-backup';
import { VectorCollection } from './datasets';
import type { JobStore } from './job-store';

/** The longest grace period a drop takes (10 minutes). */
const MAX_GRACE_MS = 600_000;

/** The counted backup a generation's GC took before removing its collection (a file in the data dir). */
export interface GenerationBackup {
  file: string;
  records: number;
  checksum: string | null;
}

/** A generation after dropModelGeneration: DROPPED, with its backup (null when it held nothing). */
export type DroppedGeneration = Generation & { backup: GenerationBackup | null };

/**
 * The operator's side of a zero-downtime model switch, after a BLUE_GREEN re-index built a generation:
 * switch to it once its job has verified it, roll back to the one it replaced, garbage-collect one that
 * is not searched any more. Every instance picks the change up within its poll interval.
 */
export class ModelSwitch {
  constructor(
    private readonly generations: ModelGenerations | undefined,
    private readonly jobs: JobStore,
    /** Where a dropped generation's backup is written (MIGRATION_DATA_DIR). */
    private readonly dataDir: string,
  ) {}

  private get g(): ModelGenerations {
    if (!this.generations) throw new SwitchyardError('MIGRATION_STATE', 'this migration service was given no embedding generations (KnowledgeModule\'s ModelGenerations)', {});
    return this.generations;
  }

  /** The job that built a generation; null when there is none (never recorded, or deleted). */
  private async jobOf(id: string | null): Promise<MigrationJobEntity | null> {
    if (!id) return null;
    return this.jobs.getEntity(id).catch((e) => {
      if (e instanceof SwitchyardError && e.code === 'NOT_FOUND') return null;
      throw e;
    });
  }

  /** Every generation, oldest first. */
  list(): Promise<Generation[]> {
    return this.g.list();
  }

  /**
   * Makes `id` the active generation in one transaction. A BUILDING generation only once the BLUE_GREEN
   * re-index that built it SUCCEEDED (its verification passed: every document's chunks there, recall
   * measured) and it holds as many chunks as the active one; a PREVIOUS one (rolling forward again) on
   * the same count check.
   */
  async switchTo(id: number): Promise<Generation> {
    const g = await this.g.find(id);
    if (g.state === 'BUILDING') {
      const job = await this.jobOf(g.jobId);
      if (job?.status !== 'SUCCEEDED') {
        throw new SwitchyardError(
          'GENERATION_INCOMPLETE',
          `generation ${id} is not verified: its re-index job ${g.jobId ?? '(none)'} is ${job?.status ?? 'missing'}, and only a job that SUCCEEDED (verified, nothing set aside) can be switched to${job && job.status !== 'RUNNING' ? '; resume it first' : ''}`,
          { generation: id, jobId: g.jobId, status: job?.status ?? null },
        );
      }
    }
    return this.g.activate(id);
  }

  rollback(): Promise<Generation> {
    return this.g.rollback();
  }

  /**
   * Drops a PREVIOUS generation, or a BUILDING one whose job is not running (an abandoned switch). Once
   * writes stopped going to it (the grace period), its records are backed up to an NDJSON file in the
   * data dir, counted against the store, and only then is its collection removed.
   */
  async drop(id: number, graceMs?: number): Promise<DroppedGeneration> {
    if (graceMs !== undefined && (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > MAX_GRACE_MS)) {
      throw new BadInputError('graceMs', `the grace period is a whole number of milliseconds from 0 to ${MAX_GRACE_MS}; got ${graceMs}`);
    }
    const g = await this.g.find(id);
    // Also for a DROPPED one (dropped again to finish a GC): never under a job that writes it.
    if ((g.state === 'BUILDING' || g.state === 'DROPPED') && g.jobId) {
      const job = await this.jobOf(g.jobId);
      if (job && (job.status === 'RUNNING' || job.status === 'PENDING')) {
        throw new SwitchyardError('MIGRATION_STATE', `generation ${id} is being built by job ${g.jobId} (${job.status}); cancel it first`, { generation: id, jobId: g.jobId });
      }
    }
    let backup: GenerationBackup | null = null;
    const dropped = await this.g.drop(id, graceMs, async (store, gen) => {
      const held = await store.count();
      if (held === 0) return;
      const coll = new VectorCollection(store);
      const b = await backUpCollection(this.dataDir, coll, coll.name, `generation${gen.id}_${Date.now()}`);
      const now = await store.count();
      if (b.rows !== now) {
        throw new SwitchyardError('MIGRATION_STATE', `the backup of generation ${gen.id} holds ${b.rows} records but its collection holds ${now}; nothing was removed (a write outlasted the grace period?): drop it again`, { generation: gen.id, backup: b.rows, store: now });
      }
      backup = { file: b.name, records: b.rows, checksum: b.checksum ?? null };
    });
    return { ...dropped, backup };
  }
}
