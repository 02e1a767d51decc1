import { SwitchyardError } from '@switchyard/core';
import type { Generation, ModelGenerations } from '@switchyard/knowledge';
import type { MigrationJobEntity } from '@switchyard/relational-db';
import type { JobStore } from './job-store';

/**
 * The operator's side of a zero-downtime model switch, after a BLUE_GREEN re-index built a generation:
 * switch to it once its job has verified it, roll back to the one it replaced, garbage-collect one that
 * is not searched any more. Every instance picks the change up within its poll interval.
 */
export class ModelSwitch {
  constructor(
    private readonly generations: ModelGenerations | undefined,
    private readonly jobs: JobStore,
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

  /** Drops a PREVIOUS generation, or a BUILDING one whose job is not running (an abandoned switch). */
  async drop(id: number, graceMs?: number): Promise<Generation> {
    const g = await this.g.find(id);
    if (g.state === 'BUILDING' && g.jobId) {
      const job = await this.jobOf(g.jobId);
      if (job && (job.status === 'RUNNING' || job.status === 'PENDING')) {
        throw new SwitchyardError('MIGRATION_STATE', `generation ${id} is being built by job ${g.jobId} (${job.status}); cancel it first`, { generation: id, jobId: g.jobId });
      }
    }
    return this.g.drop(id, graceMs);
  }
}
