import { BadInputError, SwitchyardError } from '@switchyard/core';
import type { ModelGenerations } from '@switchyard/knowledge';
import type { MigrationJobEntity } from '@switchyard/relational-db';
import { oneOf } from './job-input';
import { JobOptions, MigrationKind, REINDEX_MODES, ReindexMode, StartMigrationInput } from './migration.types';

/** The checks a model switch puts on jobs: a BLUE_GREEN start's input, and what must not run while a switch is under way. */
export class SwitchGuards {
  constructor(private readonly generations: ModelGenerations | undefined) {}

  /**
   * A BLUE_GREEN re-index is run for real (it writes nothing the app searches until switchModel) and
   * needs the app's generations. While a model switch is under way, jobs that write the configured
   * vector store (VECTORS, FULL_STACK, an IN_PLACE re-index) are refused: the app searches another one.
   */
  async reindexMode(kind: MigrationKind, input: StartMigrationInput): Promise<ReindexMode> {
    const mode = oneOf<ReindexMode>('mode', input.mode, REINDEX_MODES, 'IN_PLACE');
    if (mode === 'BLUE_GREEN') {
      if (kind !== 'REINDEX') throw new BadInputError('mode', 'BLUE_GREEN is a mode of a REINDEX job');
      if (input.dryRun) throw new BadInputError('dryRun', 'a BLUE_GREEN re-index writes only its new generation, which nothing searches until switchModel; start it without dryRun');
      if (input.full) throw new BadInputError('full', 'a BLUE_GREEN re-index embeds every document anyway (its generation starts empty)');
      // The app writes the generation too (every new or changed document, under its lock): the job writes by key beside it.
      if (input.onConflict !== undefined && input.onConflict !== null && input.onConflict !== 'OVERWRITE') throw new BadInputError('onConflict', `a BLUE_GREEN re-index writes its new generation by key (OVERWRITE) beside the app, which writes every new or changed document there too; leave onConflict out (got ${JSON.stringify(input.onConflict)})`);
      if (!this.generations) throw new BadInputError('mode', 'a BLUE_GREEN re-index needs the app\'s embedding generations (import KnowledgeModule beside MigrationModule)');
      return mode;
    }
    if (kind !== 'RELATIONAL') await this.assertNotSwitching(kind);
    return mode;
  }

  /** MODEL_SWITCH_IN_PROGRESS while a generation other than the configured store is live: a job must not write the configured store then. */
  async assertNotSwitching(kind: string): Promise<void> {
    if (!this.generations || !(await this.generations.switching())) return;
    throw new SwitchyardError(
      'MODEL_SWITCH_IN_PROGRESS',
      `a model switch is under way or done (modelGenerations): the app does not search the configured vector store alone, so a ${kind} job into it is refused; finish the switch (switchModel / dropModelGeneration) and point VECTOR_DB_COLLECTION at the active generation's collection first`,
      { kind },
    );
  }

  /** A BLUE_GREEN job is resumed (or run again) only while its generation is BUILDING; refused before the job record is touched. */
  async assertGenerationWritable(job: MigrationJobEntity): Promise<void> {
    if ((job.options as JobOptions | null)?.mode === 'BLUE_GREEN' && this.generations) await this.generations.buildingOf(job.id);
  }
}

/** Whether a job writes the configured vector store (refused during a model switch). */
export function writesVectors(job: MigrationJobEntity): boolean {
  const o = (job.options ?? {}) as JobOptions;
  if (job.dryRun) return false;
  if (job.kind === 'REINDEX') return o.mode !== 'BLUE_GREEN';
  return job.kind === 'VECTORS' || job.kind === 'FULL_STACK' || (job.kind === 'IMPORT' && o.dataset === 'VECTORS');
}
