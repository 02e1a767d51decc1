import type { DataSource, QueryRunner } from 'typeorm';

/**
 * Switchyard's own tables by their logical name, with the names they had before table prefixes (0.1:
 * `users` and `documents` unprefixed, the job tables already `switchyard_*`). Their name in a database is
 * `<prefix><logical name>`; entities carry the 0.1 names in their decorators and RelationalDb renames
 * them once TypeORM has built the metadata (decorators are global, the prefix is per database).
 */
export const OWN_TABLES = {
  users: 'users',
  documents: 'documents',
  migration_jobs: 'switchyard_migration_jobs',
  migration_checkpoints: 'switchyard_migration_checkpoints',
  migration_locks: 'switchyard_migration_locks',
  migration_partitions: 'switchyard_migration_partitions',
  migration_partition_rejects: 'switchyard_migration_partition_rejects',
  embedding_generations: 'switchyard_embedding_generations',
} as const;
export type OwnTable = keyof typeof OWN_TABLES;

/** Switchyard's named indices: their table, 0.1 name, columns. Their name in a database is `<prefix><0.1 name>`. */
export const OWN_INDICES = [
  { table: 'documents', legacy: 'uq_documents_user_external', columns: ['user_id', 'external_id'], unique: true },
  { table: 'documents', legacy: 'idx_documents_user_id', columns: ['user_id'], unique: false },
  { table: 'migration_jobs', legacy: 'idx_migration_jobs_status', columns: ['status'], unique: false },
] as const satisfies readonly { table: OwnTable; legacy: string; columns: readonly string[]; unique: boolean }[];

/** The table TypeORM records executed migrations in, before table prefixes. */
export const LEGACY_MIGRATIONS_TABLE = 'migrations';

/** How Switchyard's own tables are named in one database. */
export interface TableLayout {
  /** 'prefixed': `<prefix><logical>`; 'legacy': the 0.1 names (a read-only source not upgraded yet). */
  kind: 'prefixed' | 'legacy';
  prefix: string;
}

export const ownTableName = (layout: TableLayout, t: OwnTable): string => (layout.kind === 'legacy' ? OWN_TABLES[t] : `${layout.prefix}${t}`);
export const ownIndexName = (layout: TableLayout, legacy: string): string => (layout.kind === 'legacy' ? legacy : `${layout.prefix}${legacy}`);
export const migrationsTableName = (prefix: string): string => `${prefix}schema_migrations`;

export const LEGACY_LAYOUT: TableLayout = { kind: 'legacy', prefix: '' };

const layouts = new WeakMap<DataSource, TableLayout>();

/** Records the table layout of a RelationalDb's DataSource, for the schema migrations that run on it. */
export function setTableLayout(ds: DataSource, layout: TableLayout): void {
  layouts.set(ds, layout);
}

/**
 * The layout the schema migrations create and move to on this DataSource. One that no RelationalDb made
 * (a plain TypeORM DataSource running these migrations, as 0.1 did) gets the 0.1 names.
 */
export function tableLayoutOf(ds: DataSource): TableLayout {
  return layouts.get(ds) ?? LEGACY_LAYOUT;
}

/**
 * An own table's name in this database right now, for schema migrations: the prefixed name once it
 * exists (a fresh schema, or after the TablePrefix migration), the 0.1 name before that.
 */
export async function currentTableName(q: QueryRunner, t: OwnTable): Promise<string> {
  const name = ownTableName(tableLayoutOf(q.connection), t);
  return (await q.hasTable(name)) ? name : OWN_TABLES[t];
}
