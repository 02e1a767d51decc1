import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { currentTableName } from '../table-names';

/**
 * Who runs a migration job: the run (fencing token) that holds the target's lock, and the process that
 * owns it (instance id + boot id + pid), so a restarted instance recognises its own dead jobs at once and
 * a run that was taken over can tell before it writes.
 */
export class RunOwnership1764580000000 implements MigrationInterface {
  name = 'RunOwnership1764580000000';

  async up(q: QueryRunner): Promise<void> {
    const cols = () => [
      new TableColumn({ name: 'run_id', type: 'varchar', length: '64', isNullable: true }),
      new TableColumn({ name: 'owner', type: 'varchar', length: '255', isNullable: true }),
    ];
    await q.addColumns(await currentTableName(q, 'migration_jobs'), cols());
    await q.addColumns(await currentTableName(q, 'migration_locks'), cols());
  }

  async down(q: QueryRunner): Promise<void> {
    for (const name of ['migration_locks', 'migration_jobs'] as const) {
      const t = await currentTableName(q, name);
      await q.dropColumn(t, 'owner');
      await q.dropColumn(t, 'run_id');
    }
  }
}
