import { DynamicModule, Logger, Module } from '@nestjs/common';
import { SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { Embeddings } from '@switchyard/embeddings';
import { createChunker } from '@switchyard/knowledge';
import { RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { MigrationService } from './migration.service';

/**
 * The MigrationService over the active providers (the target) and the validated config: source profiles,
 * data dir and batch size from MIGRATION_*, chunking from EMBEDDINGS_CHUNK_*. Used by the module and the CLI.
 */
export function createMigrationService(config: SwitchyardConfig, relational: RelationalDb, vector: VectorDb, embeddings?: Embeddings): MigrationService {
  const logger = new Logger('Migration');
  return new MigrationService({
    target: { relational, vector },
    embeddings,
    profiles: config.migration.profiles,
    dataDir: config.migration.dataDir,
    defaultBatchSize: config.migration.batchSize,
    maxDocumentBytes: config.knowledge.maxDocumentBytes,
    instanceId: config.migration.instanceId,
    chunk: createChunker({ chunkSize: config.embeddings.chunkSize, chunkOverlap: config.embeddings.chunkOverlap }),
    logger: { log: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) },
  });
}

/**
 * `MigrationModule.forRoot()`: the MigrationService over the app's RelationalDbModule, VectorDbModule,
 * optionally EmbeddingsModule (needed by re-index), and SwitchyardConfigModule.
 */
@Module({})
export class MigrationModule {
  static forRoot(): DynamicModule {
    return {
      module: MigrationModule,
      providers: [
        {
          provide: MigrationService,
          inject: [SWITCHYARD_CONFIG, RelationalDb, VectorDb, { token: Embeddings, optional: true }],
          useFactory: createMigrationService,
        },
      ],
      exports: [MigrationService],
    };
  }
}
