import { Provider } from '@nestjs/common';
import { SWITCHYARD_CONFIG, SwitchyardConfig } from '@switchyard/core';
import { Embeddings } from '@switchyard/embeddings';
import { createChunker } from '@switchyard/knowledge';
import { MigrationService } from '@switchyard/migration';
import { RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { Logger } from '@nestjs/common';

/** MigrationService over the app's active providers (the target) and the configured source profiles. */
export const migrationServiceProvider: Provider = {
  provide: MigrationService,
  inject: [SWITCHYARD_CONFIG, RelationalDb, VectorDb, Embeddings],
  useFactory: (config: SwitchyardConfig, relational: RelationalDb, vector: VectorDb, embeddings: Embeddings) =>
    createMigrationService(config, relational, vector, embeddings),
};

export function createMigrationService(config: SwitchyardConfig, relational: RelationalDb, vector: VectorDb, embeddings: Embeddings): MigrationService {
  const logger = new Logger('Migration');
  return new MigrationService({
    target: { relational, vector },
    embeddings,
    profiles: config.migration.profiles,
    dataDir: config.migration.dataDir,
    defaultBatchSize: config.migration.batchSize,
    chunk: createChunker({ chunkSize: config.embeddings.chunkSize, chunkOverlap: config.embeddings.chunkOverlap }),
    logger: { log: (m) => logger.log(m), warn: (m) => logger.warn(m), error: (m) => logger.error(m) },
  });
}
