import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';

/**
 * The host's own tables (`users`, `notes`). Passed to RelationalDbModule as `migrations`: they run on start,
 * after Switchyard's own schema migrations, in the same database. Written with TypeORM's portable Table API,
 * so the same migration serves SQLite and PostgreSQL.
 */
export class HostSchema1764700000000 implements MigrationInterface {
  name = 'HostSchema1764700000000';

  async up(q: QueryRunner): Promise<void> {
    const now = q.connection.options.type === 'postgres' ? 'now()' : "(datetime('now'))";
    const createdAt = q.connection.options.type === 'postgres' ? 'timestamptz' : 'datetime';
    await q.createTable(
      new Table({
        name: 'users',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'email', type: 'varchar', length: '320', isUnique: true },
          { name: 'display_name', type: 'varchar', length: '200' },
          { name: 'created_at', type: createdAt, default: now },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: 'notes',
        columns: [
          { name: 'id', type: q.connection.options.type === 'postgres' ? 'uuid' : 'varchar', length: q.connection.options.type === 'postgres' ? undefined : '36', isPrimary: true },
          { name: 'user_id', type: 'varchar', length: '64' },
          { name: 'title', type: 'varchar', length: '200' },
          { name: 'body', type: 'text' },
          { name: 'chunks', type: 'integer', default: 0 },
          { name: 'created_at', type: createdAt, default: now },
        ],
      }),
    );
    await q.createIndex('notes', new TableIndex({ name: 'idx_notes_user_id', columnNames: ['user_id'] }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable('notes');
    await q.dropTable('users');
  }
}
