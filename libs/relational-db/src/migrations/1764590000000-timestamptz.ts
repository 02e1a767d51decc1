import { MigrationInterface, QueryRunner } from 'typeorm';
import { currentTableName, OwnTable } from '../table-names';

/** Every date column there is at this point in the schema's history (never read from today's entities). */
const DATE_COLUMNS: Partial<Record<OwnTable, string[]>> = {
  users: ['created_at', 'updated_at'],
  documents: ['indexed_at', 'created_at', 'updated_at'],
  migration_jobs: ['started_at', 'finished_at', 'heartbeat_at', 'created_at', 'updated_at'],
  migration_checkpoints: ['updated_at'],
  migration_locks: ['acquired_at'],
};

/**
 * PostgreSQL: instants become `timestamptz(3)` (see PostgresRelationalDb for why, and why milliseconds).
 *
 * Existing values are taken as UTC (`AT TIME ZONE 'UTC'`). A `timestamp without time zone` holds the
 * wall clock of whoever wrote it: a Switchyard process's local time for the dates it wrote, the server
 * session's TimeZone for column defaults (now()). Both are UTC in the supported setups (containers,
 * TZ=UTC); a database written by a process under another TZ had its times shifted already and keeps
 * that shift (fix it with UPDATE ... AT TIME ZONE '<that zone>' AT TIME ZONE 'UTC' before upgrading).
 * Sub-millisecond parts are rounded to milliseconds.
 *
 * SQLite: nothing to do. TypeORM has always stored UTC text there (`datetime`, no precision), which
 * this schema still describes.
 */
export class Timestamptz1764590000000 implements MigrationInterface {
  name = 'Timestamptz1764590000000';

  async up(q: QueryRunner): Promise<void> {
    await this.retype(q, (col) => `timestamptz(3) USING ${col} AT TIME ZONE 'UTC'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await this.retype(q, (col) => `timestamp USING ${col} AT TIME ZONE 'UTC'`);
  }

  private async retype(q: QueryRunner, type: (escapedColumn: string) => string): Promise<void> {
    if (q.connection.driver.options.type !== 'postgres') return;
    const e = (n: string) => q.connection.driver.escape(n);
    for (const [name, columns] of Object.entries(DATE_COLUMNS)) {
      const table = await currentTableName(q, name as OwnTable);
      await q.query(`ALTER TABLE ${e(table)} ${columns!.map((c) => `ALTER COLUMN ${e(c)} TYPE ${type(e(c))}`).join(', ')}`);
    }
  }
}
