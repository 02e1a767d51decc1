import { Inject, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { MigrationService } from './migration.service';
import type { WorkerHandle } from './queue/bullmq-queue';

/**
 * Makes a Nest app a migration worker: with MigrationModule (MIGRATION_QUEUE=bullmq, REDIS_URL) it runs
 * queued partitions from bootstrap until shutdown (`app.enableShutdownHooks()` lets SIGTERM finish them).
 * What `switchyard worker` is, for apps that prefer their own process: import only the provider modules,
 * MigrationModule and this one. A worker of re-indexes also needs EmbeddingsModule (the same model and
 * EMBEDDINGS_CHUNK_* as the app), and of a BLUE_GREEN one KnowledgeModule (its ModelGenerations) with
 * EMBEDDINGS_NEXT_* loaded.
 */
@Module({})
export class MigrationWorkerModule implements OnApplicationBootstrap, OnApplicationShutdown {
  private handle?: WorkerHandle;

  constructor(@Inject(MigrationService) private readonly migrations: MigrationService) {}

  onApplicationBootstrap(): void {
    this.handle = this.migrations.startWorker();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
