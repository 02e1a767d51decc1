import { Inject, UseGuards } from '@nestjs/common';
import { Args, ID, Int, Mutation, Query, Resolver, Subscription } from '@nestjs/graphql';
import { SWITCHYARD_CONFIG, SwitchyardConfig, SwitchyardError } from '@switchyard/core';
import { DroppedGeneration, MigrationJob, MigrationService, ProfileStatus } from '@switchyard/migration';
import { AuthGuard, Roles } from '../auth/auth';
import type { Generation } from '@switchyard/knowledge';
import { DroppedGenerationModel, EmbeddingGenerationModel, ExportDataInput, ImportDataInput, MigrationJobModel, MigrationProfileModel, StartMigrationInput } from './migration.graphql-types';

/** Async iterator of a job's updates, ending after the job reaches a final state. */
function jobUpdates(service: MigrationService, id: string): AsyncIterableIterator<{ migrationProgress: MigrationJob }> {
  const queue: MigrationJob[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  const unsubscribe = service.subscribe(id, (job) => {
    queue.push(job);
    wake?.();
  });
  const it: AsyncIterableIterator<{ migrationProgress: MigrationJob }> = {
    async next() {
      for (;;) {
        if (queue.length) {
          const job = queue.shift()!;
          if (job.status !== 'RUNNING') done = true;
          return { value: { migrationProgress: job }, done: false };
        }
        if (done) {
          unsubscribe();
          return { value: undefined, done: true };
        }
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    },
    async return() {
      done = true;
      unsubscribe();
      return { value: undefined, done: true };
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  // The current state first, so a late subscriber sees where the job is.
  void service.get(id).then(
    (job) => {
      queue.unshift(job);
      wake?.();
    },
    () => undefined,
  );
  return it;
}

/** Admin-only migration operations. Connection secrets never travel here: operations name profiles. */
@Resolver(() => MigrationJobModel)
@UseGuards(AuthGuard)
@Roles('admin')
export class MigrationResolver {
  constructor(
    @Inject(MigrationService) private readonly service: MigrationService,
    @Inject(SWITCHYARD_CONFIG) private readonly config: SwitchyardConfig,
  ) {}

  @Query(() => [MigrationProfileModel], { description: 'Every source profile: reachability, where it is, the vector store\'s stored dimensions, model and count.' })
  migrationProfiles(): Promise<ProfileStatus[]> {
    return this.service.profiles(this.config.health.timeoutMs);
  }

  @Mutation(() => MigrationJobModel, { description: 'Starts a migration in the background and returns the job at once.' })
  startMigration(@Args('input') input: StartMigrationInput): Promise<MigrationJob> {
    const { includeTables, excludeTables, ...rest } = input;
    const tables = includeTables || excludeTables ? { include: includeTables ?? undefined, exclude: excludeTables ?? undefined } : undefined;
    return this.service.start({ ...rest, batchSize: input.batchSize ?? undefined, throttleMs: input.throttleMs ?? undefined, tables });
  }

  @Mutation(() => MigrationJobModel, { description: 'Continues a stopped job from its checkpoints; with overwrite, a finished or failed job runs again from the start (OVERWRITE).' })
  resumeMigration(
    @Args('id', { type: () => ID }) id: string,
    @Args('overwrite', { type: () => Boolean, nullable: true, defaultValue: false }) overwrite: boolean,
  ): Promise<MigrationJob> {
    return this.service.resume(id, { overwrite: !!overwrite });
  }

  @Mutation(() => Boolean, { description: 'Ends the write freeze a live migration left on a source profile (rolling back to it). True if it was frozen.' })
  unfreezeSource(@Args('source', { type: () => String, defaultValue: 'source' }) source: string): Promise<boolean> {
    return this.service.unfreeze(source);
  }

  @Mutation(() => MigrationJobModel)
  cancelMigration(@Args('id', { type: () => ID }) id: string): Promise<MigrationJob> {
    return this.service.cancel(id);
  }

  @Mutation(() => MigrationJobModel, { description: 'Puts back what a job\'s TRUNCATE / OVERWRITE replaced, from the backups it took: a new RESTORE job, verified against the backups\' checksums.' })
  restoreBackup(@Args('jobId', { type: () => ID }) jobId: string): Promise<MigrationJob> {
    return this.service.restoreBackup(jobId);
  }

  @Mutation(() => MigrationJobModel)
  exportData(@Args('input') input: ExportDataInput): Promise<MigrationJob> {
    return this.service.exportData({ ...input, source: input.source ?? undefined });
  }

  @Mutation(() => MigrationJobModel)
  importData(@Args('input') input: ImportDataInput): Promise<MigrationJob> {
    return this.service.importData(input);
  }

  @Query(() => MigrationJobModel, { nullable: true })
  async migration(@Args('id', { type: () => ID }) id: string): Promise<MigrationJob | null> {
    try {
      return await this.service.get(id);
    } catch (e) {
      if (e instanceof SwitchyardError && e.code === 'NOT_FOUND') return null;
      throw e;
    }
  }

  @Query(() => [MigrationJobModel])
  migrations(): Promise<MigrationJob[]> {
    return this.service.list();
  }

  @Query(() => [EmbeddingGenerationModel], { description: 'The embedding generations (model switch), oldest first.' })
  modelGenerations(): Promise<Generation[]> {
    return this.service.models.list();
  }

  @Mutation(() => EmbeddingGenerationModel, { description: 'The atomic flip: makes a generation active (a BUILDING one only once its BLUE_GREEN re-index SUCCEEDED); every instance searches it within KNOWLEDGE_GENERATION_POLL_MS. The old one stays, written, for rollback.' })
  switchModel(@Args('generation', { type: () => Int }) generation: number): Promise<Generation> {
    return this.service.models.switchTo(generation);
  }

  @Mutation(() => EmbeddingGenerationModel, { description: 'Flips back to the generation the last switch replaced.' })
  rollbackModelSwitch(): Promise<Generation> {
    return this.service.models.rollback();
  }

  @Mutation(() => DroppedGenerationModel, { description: 'Garbage-collects a generation nobody searches (PREVIOUS, or an abandoned BUILDING one): writes stop going to it, then it is backed up to a counted NDJSON file in MIGRATION_DATA_DIR, then its collection is removed.' })
  dropModelGeneration(@Args('generation', { type: () => Int }) generation: number): Promise<DroppedGeneration> {
    return this.service.models.drop(generation);
  }

  @Subscription(() => MigrationJobModel, { description: 'The job after every batch, until it finishes.' })
  async migrationProgress(@Args('id', { type: () => ID }) id: string) {
    await this.service.get(id); // NOT_FOUND for an unknown job
    return jobUpdates(this.service, id);
  }
}
