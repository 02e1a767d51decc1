import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { ownTableName, tableLayoutOf } from '../table-names';

/** `<prefix>migration_partitions`: the key ranges of a job run by queue workers (MigrationPartitionEntity). */
export class MigrationPartitions1764630000000 implements MigrationInterface {
  name = 'MigrationPartitions1764630000000';

  async up(q: QueryRunner): Promise<void> {
    const zero = q.connection.driver.normalizeDefault({ type: 'integer', default: 0 } as Parameters<typeof q.connection.driver.normalizeDefault>[0]);
    const counter = (name: string) => ({ name, type: 'integer', default: zero });
    await q.createTable(
      new Table({
        name: ownTableName(tableLayoutOf(q.connection), 'migration_partitions'),
        columns: [
          { name: 'job_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'step', type: 'varchar', length: '255', isPrimary: true },
          { name: 'idx', type: 'integer', isPrimary: true },
          { name: 'after_key', type: 'text', isNullable: true },
          { name: 'until_key', type: 'text', isNullable: true },
          { name: 'status', type: 'varchar', length: '16' },
          counter('token'),
          counter('attempts'),
          { name: 'cursor', type: 'text', isNullable: true },
          counter('done'),
          counter('written'),
          { name: 'result', type: 'json', isNullable: true },
          { name: 'worker', type: 'varchar', length: '255', isNullable: true },
          { name: 'updated', type: 'varchar', length: '32', isNullable: true },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable(ownTableName(tableLayoutOf(q.connection), 'migration_partitions'), true);
  }
}
