import { DynamicModule, Logger, Module } from '@nestjs/common';
import { MigrationQueueConfig, ProviderProfile, providerModuleDefinition, SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { Embeddings } from '@switchyard/embeddings';
import { createChunker, ModelGenerations } from '@switchyard/knowledge';
import { RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { MigrationService } from './migration.service';

/**
 * What the MigrationService needs besides the app's providers. Defaults are those of the env config
 * (MIGRATION_BATCH_SIZE, KNOWLEDGE_MAX_DOCUMENT_BYTES, EMBEDDINGS_CHUNK_SIZE/OVERLAP).
 */
export interface MigrationModuleOptions {
  /** Named source profiles a migration can read from (MIGRATION_<NAME>_*); default none (REINDEX only). */
  profiles?: Record<string, ProviderProfile>;
  /** Where export/import files, vector backups and reject files live; paths outside are refused. */
  dataDir: string;
  /** Default rows/records per batch (default 1000). */
  batchSize?: number;
  /** Documents larger than this are rejected, as by the knowledge API (default 10 MiB). */
  maxDocumentBytes?: number;
  /** Names this app instance in job owners (default: the host name); unique per running instance. */
  instanceId?: string;
  /** Chunking used by REINDEX; keep it equal to KnowledgeModule's (default 1000 / 200). */
  chunkSize?: number;
  chunkOverlap?: number;
  /** Where VECTORS copies run (MIGRATION_QUEUE, REDIS_URL, MIGRATION_PARTITION_SIZE...): default in this process. */
  queue?: MigrationQueueConfig;
}

export const { ConfigurableModuleClass: MigrationConfigurableModule, MODULE_OPTIONS_TOKEN: MIGRATION_OPTIONS, OPTIONS_TYPE: MIGRATION_OPTIONS_TYPE } =
  providerModuleDefinition<MigrationModuleOptions>();

/** The module options from the validated env config (what `MigrationModule.forRoot()` without options uses). */
export function migrationOptionsFromConfig(config: SwitchyardConfig): MigrationModuleOptions {
  return {
    profiles: config.migration.profiles,
    dataDir: config.migration.dataDir,
    batchSize: config.migration.batchSize,
    maxDocumentBytes: config.knowledge.maxDocumentBytes,
    instanceId: config.migration.instanceId,
    chunkSize: config.embeddings.chunkSize,
    chunkOverlap: config.embeddings.chunkOverlap,
    queue: config.migration.queue,
  };
}

/** The MigrationService over the active providers (the migration target) and the given options. */
export function createMigrationServiceFromOptions(options: MigrationModuleOptions, relational: RelationalDb, vector: VectorDb, embeddings?: Embeddings, generations?: ModelGenerations): MigrationService {
  const logger = new Logger('Migration');
  return new MigrationService({
    target: { relational, vector },
    embeddings: embeddings ?? undefined,
    generations: generations ?? undefined,
    profiles: options.profiles ?? {},
    dataDir: options.dataDir,
    defaultBatchSize: options.batchSize ?? 1000,
    maxDocumentBytes: options.maxDocumentBytes,
    instanceId: options.instanceId,
    chunk: createChunker({ chunkSize: options.chunkSize ?? 1000, chunkOverlap: options.chunkOverlap ?? 200 }),
    queue: options.queue?.kind === 'bullmq' ? options.queue : undefined,
    logger: { log: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) },
  });
}

/**
 * The MigrationService over the active providers (the target) and the validated config: source profiles,
 * data dir and batch size from MIGRATION_*, chunking from EMBEDDINGS_CHUNK_*. Used by the CLI.
 */
export function createMigrationService(config: SwitchyardConfig, relational: RelationalDb, vector: VectorDb, embeddings?: Embeddings, generations?: ModelGenerations): MigrationService {
  return createMigrationServiceFromOptions(migrationOptionsFromConfig(config), relational, vector, embeddings, generations);
}

/**
 * The MigrationService over the app's RelationalDbModule, VectorDbModule and, optionally, EmbeddingsModule
 * (needed by REINDEX). Global unless `isGlobal: false`.
 *
 * - `MigrationModule.forRoot(options)` / `forRootAsync({ imports, inject, useFactory })`: explicit options.
 * - `MigrationModule.forRoot()` (no options): from SwitchyardConfigModule's validated env config.
 */
@Module({
  providers: [
    {
      provide: MigrationService,
      inject: [MIGRATION_OPTIONS, RelationalDb, VectorDb, { token: Embeddings, optional: true }, { token: ModelGenerations, optional: true }],
      useFactory: createMigrationServiceFromOptions,
    },
  ],
  exports: [MigrationService],
})
export class MigrationModule extends MigrationConfigurableModule {
  static forRoot(options?: typeof MIGRATION_OPTIONS_TYPE): DynamicModule {
    if (options) return super.forRoot(options);
    return super.forRootAsync({ inject: [SWITCHYARD_CONFIG], useFactory: migrationOptionsFromConfig });
  }
}
