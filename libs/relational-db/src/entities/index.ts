import { DocumentEntity } from './document.entity';
import { MigrationCheckpointEntity, MigrationJobEntity, MigrationLockEntity } from './migration-job.entity';
import { UserEntity } from './user.entity';

export { DocumentEntity, MigrationCheckpointEntity, MigrationJobEntity, MigrationLockEntity, UserEntity };

/** Application data: what a relational migration copies, in dependency order. */
export const DATA_ENTITIES = [UserEntity, DocumentEntity] as const;
/** Switchyard's own bookkeeping; never copied between providers. */
export const INTERNAL_ENTITIES = [MigrationJobEntity, MigrationCheckpointEntity, MigrationLockEntity] as const;
export const ALL_ENTITIES = [...DATA_ENTITIES, ...INTERNAL_ENTITIES];
