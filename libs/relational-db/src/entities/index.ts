import { DocumentEntity } from './document.entity';
import { MigrationCheckpointEntity, MigrationJobEntity, MigrationLockEntity, MigrationPartitionEntity, MigrationPartitionRejectEntity, EmbeddingGenerationEntity } from './migration-job.entity';
import { UserEntity } from './user.entity';
import type { OwnTable } from '../table-names';

/*
 * Every Date column (plain, CreateDateColumn, UpdateDateColumn) is an instant. Its storage is the
 * driver's choice, not the entity's: PostgreSQL timestamptz(3), SQLite UTC text (drivers/*.driver.ts).
 */
export { EmbeddingGenerationEntity, DocumentEntity, MigrationCheckpointEntity, MigrationJobEntity, MigrationLockEntity, MigrationPartitionEntity, MigrationPartitionRejectEntity, UserEntity };

/** Application data: what a relational migration copies, in dependency order. */
export const DATA_ENTITIES = [UserEntity, DocumentEntity] as const;
/** Switchyard's own bookkeeping; never copied between providers. */
export const INTERNAL_ENTITIES = [MigrationJobEntity, MigrationCheckpointEntity, MigrationLockEntity, MigrationPartitionEntity, MigrationPartitionRejectEntity, EmbeddingGenerationEntity] as const;
export const ALL_ENTITIES = [...DATA_ENTITIES, ...INTERNAL_ENTITIES];

/** Switchyard's own entities and their logical table names (named `<prefix><logical>` in a database). */
export const OWN_ENTITY_TABLES: ReadonlyMap<unknown, OwnTable> = new Map<unknown, OwnTable>([
  [UserEntity, 'users'],
  [DocumentEntity, 'documents'],
  [MigrationJobEntity, 'migration_jobs'],
  [MigrationCheckpointEntity, 'migration_checkpoints'],
  [MigrationLockEntity, 'migration_locks'],
  [MigrationPartitionEntity, 'migration_partitions'],
  [MigrationPartitionRejectEntity, 'migration_partition_rejects'],
  [EmbeddingGenerationEntity, 'embedding_generations'],
]);
