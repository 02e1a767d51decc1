import { InitialSchema1732230000000 } from './1732230000000-initial-schema';
import { RunOwnership1764580000000 } from './1764580000000-run-ownership';
import { Timestamptz1764590000000 } from './1764590000000-timestamptz';
import { TablePrefix1764600000000 } from './1764600000000-table-prefix';
import { DocumentVersion1764610000000 } from './1764610000000-document-version';
import { VectorFreeze1764620000000 } from './1764620000000-vector-freeze';
import { MigrationPartitions1764630000000 } from './1764630000000-migration-partitions';
import { MigrationPartitionRejects1764640000000 } from './1764640000000-migration-partition-rejects';
import { EmbeddingGenerations1764650000000 } from './1764650000000-embedding-generations';

/** Every schema migration of Switchyard's own tables, oldest first. Run on start by RelationalDb.init(). */
export const SCHEMA_MIGRATIONS = [InitialSchema1732230000000, RunOwnership1764580000000, Timestamptz1764590000000, TablePrefix1764600000000, DocumentVersion1764610000000, VectorFreeze1764620000000, MigrationPartitions1764630000000, MigrationPartitionRejects1764640000000, EmbeddingGenerations1764650000000];
/** Their names, as TypeORM records them. */
export const SCHEMA_MIGRATION_NAMES: ReadonlySet<string> = new Set(SCHEMA_MIGRATIONS.map((m) => m.name));
