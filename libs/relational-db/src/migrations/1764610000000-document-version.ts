import { MigrationInterface, QueryRunner, TableColumn } from 'typeorm';
import { currentTableName } from '../table-names';

/**
 * documents.version: raised by every write of a document's text (under the document's lock), so a
 * REINDEX job that read an older version can tell that the app wrote it since, and leave the app's
 * chunks alone. Existing rows start at 0.
 */
export class DocumentVersion1764610000000 implements MigrationInterface {
  name = 'DocumentVersion1764610000000';

  async up(q: QueryRunner): Promise<void> {
    const zero = q.connection.driver.normalizeDefault({ type: 'integer', default: 0 } as Parameters<typeof q.connection.driver.normalizeDefault>[0]);
    await q.addColumn(await currentTableName(q, 'documents'), new TableColumn({ name: 'version', type: 'integer', default: zero }));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn(await currentTableName(q, 'documents'), 'version');
  }
}
