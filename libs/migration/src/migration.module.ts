import { DynamicModule, Module } from '@nestjs/common';
import { SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { Embeddings } from '@switchyard/embeddings';
import { createChunker } from '@switchyard/knowledge';
import { RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { MigrationService } from './migration.service';

/**
 * `MigrationModule.forRoot()`: the MigrationService over the app's active providers (RelationalDbModule,
 * VectorDbModule, optionally EmbeddingsModule) and the validated config (SwitchyardConfigModule): source
 * profiles, data dir and batch size from MIGRATION_*, chunking from EMBEDDINGS_CHUNK_*.
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
          useFactory: (config: SwitchyardConfig, relational: RelationalDb, vector: VectorDb, embeddings?: Embeddings) =>
            new MigrationService({
              target: { relational, vector },
              embeddings,
              profiles: config.migration.profiles,
              dataDir: config.migration.dataDir,
              defaultBatchSize: config.migration.batchSize,
              chunk: createChunker({ chunkSize: config.embeddings.chunkSize, chunkOverlap: config.embeddings.chunkOverlap }),
            }),
        },
      ],
      exports: [MigrationService],
    };
  }
}
