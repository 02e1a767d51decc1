import { MigrationInterface, QueryRunner, Table } from 'typeorm';
import { ownTableName, tableLayoutOf } from '../table-names';

/** `<prefix>embedding_generations`: the embedding generations of a zero-downtime model switch (EmbeddingGenerationEntity). */
export class EmbeddingGenerations1764650000000 implements MigrationInterface {
  name = 'EmbeddingGenerations1764650000000';

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: ownTableName(tableLayoutOf(q.connection), 'embedding_generations'),
        columns: [
          { name: 'id', type: 'integer', isPrimary: true },
          { name: 'model', type: 'varchar', length: '255' },
          { name: 'dimensions', type: 'integer' },
          { name: 'collection', type: 'varchar', length: '63' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'job_id', type: 'varchar', length: '64', isNullable: true },
          { name: 'created_at', type: 'varchar', length: '32' },
          { name: 'changed_at', type: 'varchar', length: '32' },
        ],
      }),
      true,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropTable(ownTableName(tableLayoutOf(q.connection), 'embedding_generations'), true);
  }
}
