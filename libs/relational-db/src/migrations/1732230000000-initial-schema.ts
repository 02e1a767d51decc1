import { MigrationInterface, QueryRunner, Table, TableColumnOptions, TableIndex } from 'typeorm';
import { currentTableName, OwnTable, ownIndexName, ownTableName, tableLayoutOf } from '../table-names';

/**
 * Initial schema, written with TypeORM's driver-neutral Table API so the same migration runs on SQLite
 * and PostgreSQL. Later schema changes get their own migration files. Since 0.2 it creates the tables
 * under the DataSource's table prefix (a fresh database in a host app's schema must not touch the host's
 * own `users`); databases made by 0.1 ran it with the 0.1 names and are renamed by TablePrefix.
 */
export class InitialSchema1732230000000 implements MigrationInterface {
  name = 'InitialSchema1732230000000';

  async up(q: QueryRunner): Promise<void> {
    const layout = tableLayoutOf(q.connection);
    const table = (n: OwnTable) => ownTableName(layout, n);
    const index = (legacy: string) => ownIndexName(layout, legacy);
    const t = q.connection.driver.mappedDataTypes;
    const varchar = (name: string, length: number, extra: Partial<TableColumnOptions> = {}): TableColumnOptions => ({
      name,
      type: 'varchar',
      length: String(length),
      ...extra,
    });
    const date = (name: string, nullable = true): TableColumnOptions => ({ name, type: t.createDate as string, isNullable: nullable });
    const stamps = (): TableColumnOptions[] => [
      { name: 'created_at', type: t.createDate as string, default: t.createDateDefault as string },
      { name: 'updated_at', type: t.updateDate as string, default: t.updateDateDefault as string },
    ];
    const json = (name: string): TableColumnOptions => ({ name, type: 'json', isNullable: true });
    // Defaults rendered by the driver itself, exactly as it renders an entity's default.
    const lit = (type: string, value: unknown) =>
      q.connection.driver.normalizeDefault({ type, default: value } as Parameters<typeof q.connection.driver.normalizeDefault>[0]);
    const flag = (name: string, value: boolean): TableColumnOptions => ({ name, type: 'boolean', default: lit('boolean', value) });
    const counter = (name: string): TableColumnOptions => ({ name, type: 'integer', default: lit('integer', 0) });

    await q.createTable(
      new Table({
        name: table('users'),
        columns: [
          varchar('id', 255, { isPrimary: true }),
          varchar('email', 320, { isNullable: true }),
          varchar('display_name', 255, { isNullable: true }),
          json('roles'),
          flag('active', true),
          ...stamps(),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: table('documents'),
        columns: [
          varchar('id', 64, { isPrimary: true }),
          varchar('user_id', 255),
          varchar('external_id', 255),
          varchar('title', 1000, { isNullable: true }),
          { name: 'content', type: 'text' },
          { name: 'content_bytes', type: 'integer' },
          counter('chunk_count'),
          json('metadata'),
          varchar('embedding_model', 255, { isNullable: true }),
          date('indexed_at'),
          ...stamps(),
        ],
        indices: [
          new TableIndex({ name: index('uq_documents_user_external'), columnNames: ['user_id', 'external_id'], isUnique: true }),
          new TableIndex({ name: index('idx_documents_user_id'), columnNames: ['user_id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: table('migration_jobs'),
        columns: [
          varchar('id', 64, { isPrimary: true }),
          varchar('kind', 32),
          varchar('status', 32),
          varchar('source', 255),
          varchar('target', 255),
          flag('dry_run', false),
          varchar('on_conflict', 16),
          { name: 'batch_size', type: 'integer' },
          json('options'),
          json('plan'),
          json('progress'),
          json('verification'),
          json('backups'),
          { name: 'error', type: 'text', isNullable: true },
          date('started_at'),
          date('finished_at'),
          date('heartbeat_at'),
          ...stamps(),
        ],
        indices: [new TableIndex({ name: index('idx_migration_jobs_status'), columnNames: ['status'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: table('migration_checkpoints'),
        columns: [
          varchar('job_id', 64, { isPrimary: true }),
          varchar('step', 255, { isPrimary: true }),
          { name: 'cursor', type: 'text', isNullable: true },
          counter('done'),
          counter('total'),
          flag('finished', false),
          { name: 'updated_at', type: t.updateDate as string, default: t.updateDateDefault as string },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: table('migration_locks'),
        columns: [varchar('target', 255, { isPrimary: true }), varchar('job_id', 64), date('acquired_at', false)],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const name of ['migration_locks', 'migration_checkpoints', 'migration_jobs', 'documents', 'users'] as const) {
      await q.dropTable(await currentTableName(q, name), true);
    }
  }
}
