import { MigrationInterface, QueryRunner, TableIndex } from 'typeorm';
import { LEGACY_LAYOUT, OWN_INDICES, OWN_TABLES, OwnTable, ownIndexName, ownTableName, TableLayout, tableLayoutOf } from '../table-names';

/**
 * 0.1 -> 0.2: Switchyard's own tables take the table prefix (`users` -> `switchyard_users`, ...), so a host
 * app's tables of the same name can live in the same database; named indices follow. In place: ALTER
 * TABLE ... RENAME keeps every row, and nothing is copied. A table is renamed only when the prefixed one
 * does not exist yet (a fresh 0.2 schema was created prefixed by InitialSchema, and then this does nothing
 * — even where a host's own `users` exists). SQLite: one transaction with the other migrations (the
 * schema lock); PostgreSQL: its own transaction.
 */
export class TablePrefix1764600000000 implements MigrationInterface {
  name = 'TablePrefix1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await this.move(q, LEGACY_LAYOUT, tableLayoutOf(q.connection));
  }

  async down(q: QueryRunner): Promise<void> {
    await this.move(q, tableLayoutOf(q.connection), LEGACY_LAYOUT);
  }

  private async move(q: QueryRunner, from: TableLayout, to: TableLayout): Promise<void> {
    const e = (n: string) => q.connection.driver.escape(n);
    const sqlite = q.connection.driver.options.type !== 'postgres';
    for (const t of Object.keys(OWN_TABLES) as OwnTable[]) {
      const [a, b] = [ownTableName(from, t), ownTableName(to, t)];
      if (a !== b && !(await q.hasTable(b)) && (await q.hasTable(a))) {
        // PostgreSQL: TypeORM's rename also renames the primary key constraint and sequences it named.
        // SQLite: a plain RENAME (TypeORM's would copy the whole table into a new one).
        if (sqlite) await q.query(`ALTER TABLE ${e(a)} RENAME TO ${e(b)}`);
        else await q.renameTable(a, b);
      }
      // Indices move even where the table kept its name (the job tables were switchyard_* already).
      const table = (await q.hasTable(b)) ? await q.getTable(b) : undefined;
      const present = new Set(table?.indices.map((i) => i.name) ?? []);
      for (const index of OWN_INDICES.filter((i) => i.table === t)) {
        const [x, y] = [ownIndexName(from, index.legacy), ownIndexName(to, index.legacy)];
        if (x === y || !present.has(x) || present.has(y)) continue;
        if (!sqlite) await q.query(`ALTER INDEX ${e(x)} RENAME TO ${e(y)}`);
        else {
          // SQLite cannot rename an index: drop the old one and build the new.
          await q.query(`DROP INDEX ${e(x)}`);
          await q.createIndex(b, new TableIndex({ name: y, columnNames: [...index.columns], isUnique: index.unique }));
        }
      }
    }
  }
}
