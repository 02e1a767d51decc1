import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { ownTableName, tableLayoutOf } from '../table-names';

/** `<prefix>migration_partition_rejects`: the records queued partitions set aside (MigrationPartitionRejectEntity). */
export class MigrationPartitionRejects1764640000000 implements MigrationInterface {
  name = 'MigrationPartitionRejects1764640000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: ownTableName(tableLayoutOf(q.connection), 'migration_partition_rejects'),
        columns: [
          { name: 'job_id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'step', type: 'varchar', length: '255', isPrimary: true },
          { name: 'idx', type: 'integer', isPrimary: true },
          { name: 'n', type: 'integer', isPrimary: true },
          { name: 'record_id', type: 'text' },
          { name: 'reason', type: 'text' },
          { name: 'record', type: 'text' },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable(ownTableName(tableLayoutOf(q.connection), 'migration_partition_rejects'), true);
  }
}
