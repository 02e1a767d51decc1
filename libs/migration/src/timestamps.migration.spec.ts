import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { DocumentEntity, RelationalDb, UserEntity, UsersRepository } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { MigrationService } from './migration.service';
import { openRelational, openVector, profile, seedRelational, service, succeeded } from './testing/fixtures';

/**
 * A copy goes through JS Dates (milliseconds) and so does its checksum: if the database held finer
 * stamps than that, a PostgreSQL -> PostgreSQL copy would change them while verification still said ok.
 * Stamps are stored with milliseconds, so the copy is exact in the database, not only in JS.
 */
describe('relational migration keeps every stamp exactly (PostgreSQL -> PostgreSQL)', () => {
  const dir = freshDir('sy-mig-ts-');
  const unusedVectors: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('unused-vectors.sqlite'), dimensions: 4, collection: 'unused' };
  const drops: Array<() => Promise<void>> = [];
  let source: RelationalDb;
  let target: RelationalDb;
  let vectors: VectorDb;
  let svc: MigrationService;

  beforeAll(async () => {
    const [a, b] = await Promise.all([freshPostgres('tssrc'), freshPostgres('tsdst')]);
    drops.push(a.drop, b.drop);
    const sourceConfig: RelationalDbConfig = { provider: 'postgres', logging: false, ...a.connection };
    source = await openRelational(sourceConfig);
    await seedRelational(source, 20, 50);
    // Users first seen by the API: their created_at/updated_at come from the database's own now().
    const users = new UsersRepository(source);
    for (let i = 0; i < 20; i++) await users.ensure(`api-user-${i}`);
    target = await openRelational({ provider: 'postgres', logging: false, ...b.connection });
    vectors = await openVector({ provider: 'sqlite-vec', path: dir.file('target-vectors.sqlite'), dimensions: 4, collection: 'v' }, 'm');
    svc = service({ target: { relational: target, vector: vectors }, profiles: { source: profile('source', sourceConfig, unusedVectors) }, dataDir: path.join(dir.dir, 'data') });
  });

  afterAll(async () => {
    await svc?.close();
    await source?.close();
    await target?.close();
    await vectors?.close();
    for (const drop of drops) await drop();
    dir.remove();
  });

  /** Every stamp as microseconds since the epoch, as the database holds it (a Date would round it to ms). */
  const stamps = (db: RelationalDb, table: string) =>
    db.dataSource.query(
      `SELECT id, (extract(epoch FROM created_at) * 1000000)::bigint::text AS created, (extract(epoch FROM updated_at) * 1000000)::bigint::text AS updated FROM ${table} ORDER BY id`,
    );

  it('copies database-generated stamps to the microsecond, and verification agrees', async () => {
    const job = await succeeded(svc, svc.start({ kind: 'RELATIONAL', batchSize: 7 }));
    expect(job.verification?.ok).toBe(true);
    for (const entity of [UserEntity, DocumentEntity]) {
      const [from, to] = await Promise.all([stamps(source, source.metadata(entity).tableName), stamps(target, target.metadata(entity).tableName)]);
      expect(from.length).toBeGreaterThan(0);
      expect(to).toEqual(from);
    }
  });
});
