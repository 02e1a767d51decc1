import { MigrationInterface, QueryRunner, Table, TableColumnOptions, TableIndex } from 'typeorm';

/**
 * Initial schema, written with TypeORM's driver-neutral Table API so the same migration runs on SQLite
 * and PostgreSQL. Later schema changes get their own migration files; never edit this one.
 */
export class InitialSchema1732230000000 implements MigrationInterface {
  name = 'InitialSchema1732230000000';

  async up(q: QueryRunner): Promise<void> {
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
        name: 'users',
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
        name: 'documents',
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
          new TableIndex({ name: 'uq_documents_user_external', columnNames: ['user_id', 'external_id'], isUnique: true }),
          new TableIndex({ name: 'idx_documents_user_id', columnNames: ['user_id'] }),
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'switchyard_migration_jobs',
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
        indices: [new TableIndex({ name: 'idx_migration_jobs_status', columnNames: ['status'] })],
      }),
    );
    await q.createTable(
      new Table({
        name: 'switchyard_migration_checkpoints',
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
        name: 'switchyard_migration_locks',
        columns: [varchar('target', 255, { isPrimary: true }), varchar('job_id', 64), date('acquired_at', false)],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const name of ['switchyard_migration_locks', 'switchyard_migration_checkpoints', 'switchyard_migration_jobs', 'documents', 'users']) {
      await q.dropTable(name, true);
    }
  }
}
