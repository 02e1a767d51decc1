import { RelationalDbConfig } from '@switchyard/core';
import { Column, DataSource, DataSourceOptions, Entity, PrimaryGeneratedColumn } from 'typeorm';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { DocumentEntity, MigrationJobEntity, UserEntity } from './entities';
import { InitialSchema1732230000000 } from './migrations/1732230000000-initial-schema';
import { RunOwnership1764580000000 } from './migrations/1764580000000-run-ownership';
import { Timestamptz1764590000000 } from './migrations/1764590000000-timestamptz';
import { SCHEMA_MIGRATIONS } from './migrations';
import { createRelationalDb } from './relational-db.factory';
import { RelationalDb } from './relational-db.port';

/** A host app's own `users` table: the name Switchyard 0.1 took for itself. */
@Entity('users')
class HostUser {
  @PrimaryGeneratedColumn()
  id: number;

  @Column({ type: 'varchar', length: 100 })
  login: string;
}

/** A host's migration history in TypeORM's default `migrations` table, next to Switchyard's 0.1 rows. */
const HOST_MIGRATION = { timestamp: 1700000000000, name: 'HostThing1700000000000' };

type Engine = 'sqlite' | 'postgres';

async function configFor(engine: Engine, name: string): Promise<{ config: RelationalDbConfig; drop(): Promise<void> }> {
  if (engine === 'postgres') {
    const pg = await freshPostgres(name);
    return { config: { provider: 'postgres', logging: false, ...pg.connection }, drop: pg.drop };
  }
  const dir = freshDir();
  return { config: { provider: 'sqlite', database: dir.file(`${name}.sqlite`), logging: false }, drop: async () => dir.remove() };
}

function typeormOptions(config: RelationalDbConfig): DataSourceOptions {
  return config.provider === 'postgres'
    ? { type: 'postgres', host: config.host, port: config.port, database: config.database, username: config.username, password: config.password }
    : { type: 'better-sqlite3', database: config.database };
}

/** A database exactly as 0.1 left it: TypeORM's own DataSource ran the 0.1 migrations (unprefixed names, `migrations` table). */
async function legacyDatabase(config: RelationalDbConfig, withHostRow: boolean): Promise<void> {
  const ds = new DataSource({ ...typeormOptions(config), migrations: [InitialSchema1732230000000, RunOwnership1764580000000, Timestamptz1764590000000] } as DataSourceOptions);
  await ds.initialize();
  try {
    await ds.runMigrations();
    for (let i = 0; i < 50; i++) {
      await ds.query(`INSERT INTO users (id, email, active) VALUES ('u${i}', 'u${i}@example.com', ${config.provider === 'postgres' ? 'true' : '1'})`);
      await ds.query(`INSERT INTO documents (id, user_id, external_id, content, content_bytes) VALUES ('d${i}', 'u${i}', 'doc', 'text ${i}', ${`text ${i}`.length})`);
    }
    await ds.query(`INSERT INTO switchyard_migration_jobs (id, kind, status, source, target, on_conflict, batch_size) VALUES ('job-1', 'RELATIONAL', 'SUCCEEDED', 's', 't', 'error', 10)`);
    if (withHostRow) await ds.query(`INSERT INTO migrations (timestamp, name) VALUES (${HOST_MIGRATION.timestamp}, '${HOST_MIGRATION.name}')`);
  } finally {
    await ds.destroy();
  }
}

async function tables(db: RelationalDb): Promise<string[]> {
  const sql =
    db.provider === 'postgres'
      ? "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"
      : "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1";
  return ((await db.dataSource.query(sql)) as { name: string }[]).map((r) => r.name);
}

describe.each<Engine>(['sqlite', 'postgres'])('Table prefix (%s)', (engine) => {
  it('a fresh database gets switchyard_* tables, and a host table named users lives beside them', async () => {
    const { config, drop } = await configFor(engine, 'prefix');
    const db = createRelationalDb(config, { entities: [HostUser], synchronize: true });
    try {
      await db.init();
      expect(await tables(db)).toEqual(
        expect.arrayContaining(['switchyard_users', 'switchyard_documents', 'switchyard_migration_jobs', 'switchyard_schema_migrations', 'users']),
      );
      expect(await tables(db)).not.toContain('migrations');
      await db.repository(UserEntity).insert({ id: 'sub-1', roles: null, active: true });
      const host = await db.repository(HostUser).save({ login: 'ada' });
      expect(host.id).toBe(1);
      expect(await db.repository(HostUser).count()).toBe(1);
      expect(await db.repository(UserEntity).count()).toBe(1);
      expect(db.datasetName(UserEntity)).toBe('users');
      expect(db.datasetName(HostUser)).toBe('host:users');
      expect(db.metadata(UserEntity).tableName).toBe('switchyard_users');
      await expect(db.pendingSchemaChanges()).resolves.toEqual([]);
    } finally {
      await db.close();
      await drop();
    }
  });

  it('a custom prefix names every own table and index', async () => {
    const { config, drop } = await configFor(engine, 'prefix2');
    const db = createRelationalDb({ ...config, tablePrefix: 'rag_' });
    try {
      await db.init();
      const names = await tables(db);
      expect(names).toEqual(expect.arrayContaining(['rag_users', 'rag_documents', 'rag_migration_jobs', 'rag_migration_checkpoints', 'rag_migration_locks', 'rag_schema_migrations']));
      expect(names.filter((n) => !n.startsWith('rag_'))).toEqual([]);
      expect(db.metadata(DocumentEntity).indices.map((i) => i.name).sort()).toEqual(['rag_idx_documents_user_id', 'rag_uq_documents_user_external']);
      await expect(db.pendingSchemaChanges()).resolves.toEqual([]);
    } finally {
      await db.close();
      await drop();
    }
  });

  it('a 0.1 database (unprefixed tables, `migrations` table) upgrades in place and keeps its data; a host row in `migrations` stays', async () => {
    const { config, drop } = await configFor(engine, 'legacy');
    await legacyDatabase(config, true);
    // A read-only handle (a migration source) reads the 0.1 layout as it is, without upgrading it.
    const ro = createRelationalDb(config, { readOnly: true });
    await ro.init();
    try {
      expect(ro.metadata(UserEntity).tableName).toBe('users');
      expect(await ro.repository(DocumentEntity).count()).toBe(50);
      expect(await tables(ro)).toContain('migrations');
    } finally {
      await ro.close();
    }
    const db = createRelationalDb(config);
    try {
      await db.init();
      const names = await tables(db);
      expect(names).toEqual(expect.arrayContaining(['switchyard_users', 'switchyard_documents', 'switchyard_migration_jobs', 'switchyard_schema_migrations', 'migrations']));
      expect(names).not.toContain('users');
      expect(names).not.toContain('documents');
      expect(await db.repository(UserEntity).count()).toBe(50);
      expect((await db.repository(DocumentEntity).findOneByOrFail({ id: 'd7' })).content).toBe('text 7');
      expect((await db.repository(MigrationJobEntity).findOneByOrFail({ id: 'job-1' })).status).toBe('SUCCEEDED');
      const ours = (await db.dataSource.query('SELECT name FROM switchyard_schema_migrations ORDER BY timestamp')) as { name: string }[];
      expect(ours.map((r) => r.name)).toEqual(SCHEMA_MIGRATIONS.map((m) => m.name));
      const theirs = (await db.dataSource.query('SELECT name FROM migrations')) as { name: string }[];
      expect(theirs.map((r) => r.name)).toEqual([HOST_MIGRATION.name]);
      // The unique index moved with its table: a second (user, external id) is still refused.
      await expect(db.repository(DocumentEntity).insert({ id: 'dup', userId: 'u7', externalId: 'doc', content: 'x', contentBytes: 1 })).rejects.toThrow(/unique|UNIQUE/);
      await expect(db.pendingSchemaChanges()).resolves.toEqual([]);
    } finally {
      await db.close();
    }
    // A second start finds nothing to do.
    const again = createRelationalDb(config);
    try {
      await again.init();
      expect(await again.repository(UserEntity).count()).toBe(50);
    } finally {
      await again.close();
      await drop();
    }
  });

  it('a 0.1 database whose `migrations` table holds only Switchyard rows: the table is dropped after the move', async () => {
    const { config, drop } = await configFor(engine, 'legacy2');
    await legacyDatabase(config, false);
    const db = createRelationalDb(config);
    try {
      await db.init();
      expect(await tables(db)).not.toContain('migrations');
      expect(await db.repository(DocumentEntity).count()).toBe(50);
    } finally {
      await db.close();
      await drop();
    }
  });
});
