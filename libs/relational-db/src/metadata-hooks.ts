import type { DataSource } from 'typeorm';
import { OWN_ENTITY_TABLES } from './entities';
import type { InstantColumn } from './relational-db.port';

/**
 * Column types a host's entity may name in the other engine's words, as a TypeORM user writes one entity
 * for an app that runs on SQLite in development and PostgreSQL in production: mapped to this engine's
 * equivalent wherever TypeORM asks the driver (metadata validation, schema DDL).
 */
const PORTABLE_TYPES: Partial<Record<string, Record<string, string>>> = {
  postgres: { blob: 'bytea', longblob: 'bytea', datetime: 'timestamp with time zone' },
  'better-sqlite3': { bytea: 'blob', jsonb: 'json', timestamptz: 'datetime', 'timestamp with time zone': 'datetime' },
};

export function portableColumnTypes(dataSource: DataSource): void {
  const map = PORTABLE_TYPES[dataSource.driver.options.type];
  if (!map) return;
  const driver = dataSource.driver;
  const normalize = driver.normalizeType.bind(driver);
  driver.normalizeType = (column) => {
    const t = typeof column.type === 'string' ? map[column.type.toLowerCase()] : undefined;
    return t ?? normalize(column);
  };
}

/** Runs `then` each time TypeORM has built the DataSource's entity metadata, before anything reads it. */
export function afterMetadataBuilt(dataSource: DataSource, then: () => void): void {
  const ds = dataSource as unknown as { buildMetadatas(): Promise<void> };
  const build = ds.buildMetadatas.bind(ds);
  ds.buildMetadatas = async () => {
    await build();
    then();
  };
}

/**
 * Entities declare instants as `Date` (plain date columns, CreateDateColumn, UpdateDateColumn); an
 * engine whose TypeORM default for them is wrong maps them here, once the metadata is built and before
 * anything (schema diff, queries) reads it. Entity decorators are global, so the choice cannot live
 * in the entities themselves when SQLite and PostgreSQL handles share one process.
 */
export function mapInstantColumns(dataSource: DataSource, instant: InstantColumn): void {
  // Switchyard's own entities only: a host's columns keep the types its own schema gave them.
  for (const column of dataSource.entityMetadatas.filter((m) => OWN_ENTITY_TABLES.has(m.target)).flatMap((m) => m.columns)) {
    if (column.type === Date || column.isCreateDate || column.isUpdateDate) {
      column.type = instant.type;
      column.precision = instant.precision;
    }
  }
}
