import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { tableLayoutOf } from '../table-names';

/** `<prefix>vector_freeze`'s name on a DataSource (a plain TypeORM DataSource, as 0.1 ran these, gets `switchyard_`). */
export function vectorFreezeTableName(prefix: string | null): string {
  return `${prefix || 'switchyard_'}vector_freeze`;
}

/**
 * `<prefix>vector_freeze`: the vector stores a live VECTORS migration froze (by identity). The app checks
 * it before it writes a document's chunks, so an instance still pointed at a frozen store refuses writes
 * with MAINTENANCE while the instances on the new store write on (both may share this database). Not an
 * entity: a RELATIONAL job never copies it, synchronize never touches it.
 */
export class VectorFreeze1764620000000 implements MigrationInterface {
  name = 'VectorFreeze1764620000000';

  async up(q: QueryRunner): Promise<void> {
    const layout = tableLayoutOf(q.connection);
    await q.createTable(
      new Table({
        name: vectorFreezeTableName(layout.kind === 'legacy' ? null : layout.prefix),
        columns: [
          { name: 'store', type: 'varchar', length: '512', isPrimary: true },
          { name: 'job_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'since', type: 'varchar', length: '32' },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    const layout = tableLayoutOf(q.connection);
    await q.dropTable(vectorFreezeTableName(layout.kind === 'legacy' ? null : layout.prefix), true);
  }
}
