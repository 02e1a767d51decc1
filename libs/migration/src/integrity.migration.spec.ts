import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PostgresConnection, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { makeRecords } from '../../vector-db/src/testing/records';
import { VectorCollection } from './datasets';
import { MigrationJob } from './migration.types';
import { documents, openRelational, openVector, profile, seedRelational, service, succeeded, users } from './testing/fixtures';
import { sampleIndices } from './verification';

/** Reads a job's reject file: one parsed line per record set aside. */
function rejectLines(dataDir: string, job: MigrationJob): { step: string; id: string; reason: string; record: unknown }[] {
  const text = readFileSync(path.join(dataDir, job.rejectFile!), 'utf8').trim();
  return text ? text.split('\n').map((l) => JSON.parse(l)) : [];
}

describe('integrity: aliases, rejects, backups, verification (real servers)', () => {
  const dir = freshDir('sy-mig-integrity-');
  const dataDir = path.join(dir.dir, 'data');
  let drop: () => Promise<void>;
  let conn: PostgresConnection;
  const open: { close(): Promise<void> }[] = [];
  const keep = <T extends { close(): Promise<void> }>(x: T): T => (open.push(x), x);

  beforeAll(async () => {
    mkdirSync(dataDir, { recursive: true });
    const pg = await freshPostgres('migintegrity');
    drop = pg.drop;
    conn = pg.connection;
  });

  afterAll(async () => {
    for (const o of open.reverse()) await o.close().catch(() => undefined);
    await drop?.();
    dir.remove();
  });

  describe('the target under another name is refused before any write (defect 1)', () => {
    it('SQLite + sqlite-vec reached through a symlink: RELATIONAL and VECTORS with TRUNCATE are refused, nothing is emptied', async () => {
      const file = dir.file('alias/app.sqlite');
      const relConfig: RelationalDbConfig = { provider: 'sqlite', database: file, logging: false };
      const vecConfig: VectorDbConfig = { provider: 'sqlite-vec', path: file, dimensions: 8, collection: 'vector_embeddings' };
      const rel = keep(await openRelational(relConfig));
      const vec = keep(await openVector(vecConfig, 'model-a'));
      await seedRelational(rel, 5, 40);
      await vec.upsert(makeRecords(50, 8, { seed: 2 }));
      const link = dir.file('alias/link.sqlite');
      symlinkSync(file, link);
      const svc = keep(
        service({ target: { relational: rel, vector: vec }, profiles: { old: profile('old', { ...relConfig, database: link }, { ...vecConfig, path: link }) }, dataDir }),
      );
      for (const kind of ['RELATIONAL', 'VECTORS'] as const) {
        await expect(svc.start({ kind, source: 'old', onConflict: 'TRUNCATE' })).rejects.toMatchObject({
          code: 'SAME_STORE',
          message: expect.stringMatching(/source profile "old" .*link\.sqlite.* and the active target .*app\.sqlite.* are the same store.*Nothing was written/),
        });
      }
      expect(await rel.repository(DocumentEntity).count()).toBe(40);
      expect(await rel.repository(UserEntity).count()).toBe(5);
      expect(await vec.count()).toBe(50);
      expect((await svc.list()).map((j) => [j.kind, j.status, j.errorCode])).toEqual([
        ['VECTORS', 'FAILED', 'SAME_STORE'],
        ['RELATIONAL', 'FAILED', 'SAME_STORE'],
      ]);
    });

    it('PostgreSQL + pgvector as localhost vs 127.0.0.1: refused, nothing is emptied', async () => {
      const relConfig: RelationalDbConfig = { provider: 'postgres', logging: false, ...conn, host: '127.0.0.1' };
      const vecConfig: VectorDbConfig = { provider: 'pgvector', connection: { ...conn, host: '127.0.0.1' }, dimensions: 8, collection: 'alias_vectors' };
      const rel = keep(await openRelational(relConfig));
      const vec = keep(await openVector(vecConfig, 'model-a'));
      await seedRelational(rel, 3, 30);
      await vec.upsert(makeRecords(20, 8, { seed: 3 }));
      const alias = profile('source', { ...relConfig, host: 'localhost' }, { ...vecConfig, connection: { ...conn, host: 'localhost' } });
      const svc = keep(service({ target: { relational: rel, vector: vec }, profiles: { source: alias }, dataDir }));
      await expect(svc.start({ kind: 'RELATIONAL', onConflict: 'TRUNCATE' })).rejects.toMatchObject({ code: 'SAME_STORE' });
      await expect(svc.start({ kind: 'VECTORS', onConflict: 'TRUNCATE' })).rejects.toMatchObject({ code: 'SAME_STORE' });
      // a dry run says so too, without writing
      const plan = await svc.waitFor((await svc.start({ kind: 'RELATIONAL', onConflict: 'TRUNCATE', dryRun: true })).id);
      expect(plan.plan?.refusal).toMatchObject({ code: 'SAME_STORE' });
      expect(await rel.repository(DocumentEntity).count()).toBe(30);
      expect(await vec.count()).toBe(20);
      await rel.repository(DocumentEntity).clear();
      await rel.repository(UserEntity).clear();
    });
  });

  describe('bad records are set aside with their reason, and the job says so (defect 7)', () => {
    it('a vector NDJSON with a wrong-dimension, a NaN and a user-less record imports the rest: SUCCEEDED_WITH_REJECTS, all three in the reject file', async () => {
      const vec = keep(await openVector({ provider: 'pgvector', connection: conn, dimensions: 8, collection: 'import_vectors' }, 'model-i'));
      const rel = keep(await openRelational({ provider: 'postgres', logging: false, ...conn }));
      const good = makeRecords(10, 8, { seed: 4, prefix: 'g' });
      const codec = new VectorCollection(vec);
      const nan = { ...makeRecords(1, 8, { seed: 5, prefix: 'nan' })[0] };
      nan.embedding = Float32Array.from(nan.embedding, (x, i) => (i === 3 ? NaN : x));
      const lines = [
        { format: 'switchyard-ndjson', version: 1, kind: 'VECTORS', createdAt: new Date().toISOString(), source: 'test', collection: 'x', dimensions: 8, metric: 'cosine', model: 'model-i' },
        ...good.map((r) => codec.encode(r)),
        codec.encode({ ...makeRecords(1, 4, { seed: 6, prefix: 'short' })[0] }),
        codec.encode(nan),
        { ...(codec.encode(makeRecords(1, 8, { seed: 7, prefix: 'nouser' })[0]) as object), userId: undefined },
      ];
      writeFileSync(path.join(dataDir, 'bad-vectors.ndjson'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
      const svc = keep(service({ target: { relational: rel, vector: vec }, profiles: {}, dataDir }));
      const planned = await svc.waitFor((await svc.importData({ kind: 'VECTORS', path: 'bad-vectors.ndjson', dryRun: true })).id);
      expect(planned.plan?.steps[0]).toMatchObject({ sourceCount: 13, invalid: 3 });
      const job = await svc.waitFor((await svc.importData({ kind: 'VECTORS', path: 'bad-vectors.ndjson' })).id);
      expect(job.status).toBe('SUCCEEDED_WITH_REJECTS');
      expect(job.verification).toMatchObject({ ok: true, tables: [{ sourceCount: 10, targetCount: 10, checksumMatch: true }] });
      expect(job.progress!.steps[0]).toMatchObject({ read: 13, written: 10, errors: 3 });
      expect(await vec.count()).toBe(10);
      const rejects = rejectLines(dataDir, job);
      expect(rejects.map((r) => [r.id, r.reason])).toEqual([
        ['short-0000000', expect.stringMatching(/4 dimensions/)],
        ['nan-0000000', expect.stringMatching(/embedding\[3\] is not a finite number/)],
        ['nouser-0000000', expect.stringMatching(/userId/)],
      ]);
    });

    const targets: [string, () => RelationalDbConfig][] = [
      ['PostgreSQL', () => ({ provider: 'postgres', logging: false, ...conn })],
      ['SQLite', () => ({ provider: 'sqlite', database: dir.file('rejects/target.sqlite'), logging: false })],
    ];
    it.each(targets)(
      'a relational import into %s rejects what the API would refuse (types, size limit, unknown user, duplicate key), predicted by the dry run',
      async (_name, configOf) => {
        const rel = keep(await openRelational(configOf()));
        const vec = keep(await openVector({ provider: 'sqlite-vec', path: dir.file('rejects/v.sqlite'), dimensions: 8, collection: 'vector_embeddings' }, null));
        const [u] = users(1);
        const [ok, lots, orphan, big, dup] = documents(5, 1);
        Object.assign(lots, { contentBytes: 'lots' });
        Object.assign(orphan, { userId: 'nobody' });
        Object.assign(big, { content: 'x'.repeat(2000), contentBytes: 2000 });
        Object.assign(dup, { externalId: ok.externalId });
        const encode = (t: string, r: object) => ({ t, r });
        const lines = [
          { format: 'switchyard-ndjson', version: 1, kind: 'RELATIONAL', createdAt: new Date().toISOString(), source: 'test', tables: ['users', 'documents'] },
          encode('users', u),
          ...[ok, lots, orphan, big, dup].map((d) => encode('documents', d)),
        ];
        const file = `rel-${_name}.ndjson`;
        writeFileSync(path.join(dataDir, file), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
        const svc = keep(service({ target: { relational: rel, vector: vec }, profiles: {}, dataDir, maxDocumentBytes: 1000 }));
        const planned = await svc.waitFor((await svc.importData({ kind: 'RELATIONAL', path: file, dryRun: true })).id);
        const docsPlan = planned.plan!.steps.find((s) => s.name === 'documents')!;
        expect(docsPlan).toMatchObject({ invalid: 4, uniqueConflicts: 1 });
        const job = await svc.waitFor((await svc.importData({ kind: 'RELATIONAL', path: file })).id);
        expect(job.status).toBe('SUCCEEDED_WITH_REJECTS');
        expect(job.verification?.ok).toBe(true);
        expect(job.progress!.steps.map((s) => [s.name, s.read, s.written, s.errors])).toEqual([
          ['users', 1, 1, 0],
          ['documents', 5, 1, 4],
        ]);
        expect(await rel.repository(DocumentEntity).find()).toMatchObject([{ id: ok.id }]);
        const why = new Map(rejectLines(dataDir, job).map((r) => [r.id, r.reason]));
        expect(why.get(lots.id)).toMatch(/content_bytes must be an integer, got "lots"/);
        expect(why.get(orphan.id)).toMatch(/user "nobody" \(user_id\) does not exist/);
        expect(why.get(big.id)).toMatch(/content is 2000 bytes; the limit is 1000 \(KNOWLEDGE_MAX_DOCUMENT_BYTES\)/);
        expect(why.get(dup.id)).toMatch(/\(user_id, external_id\) .* is also used by .* \(unique key switchyard_uq_documents_user_external\)/);
        // SKIP of the same file now: the duplicate of a stored key is refused the same way on both engines
        const again = await svc.waitFor((await svc.importData({ kind: 'RELATIONAL', path: file, onConflict: 'SKIP' })).id);
        expect(again.status).toBe('SUCCEEDED_WITH_REJECTS');
        expect(again.progress!.steps.find((s) => s.name === 'documents')).toMatchObject({ written: 0, skipped: 1, errors: 4 });
        expect(await rel.repository(DocumentEntity).count()).toBe(1);
        await rel.repository(DocumentEntity).clear();
        await rel.repository(UserEntity).clear();
      },
    );
  });

  describe('backups and restores (defect 6)', () => {
    let rel: RelationalDb;
    let vec: VectorDb;
    let srcRel: RelationalDb;
    const srcFile = dir.file('backups/source.sqlite');

    beforeAll(async () => {
      srcRel = keep(await openRelational({ provider: 'sqlite', database: srcFile, logging: false }));
      await seedRelational(srcRel, 4, 60);
      rel = keep(await openRelational({ provider: 'postgres', logging: false, ...conn }));
      vec = keep(await openVector({ provider: 'pgvector', connection: conn, dimensions: 8, collection: 'backup_vectors' }, null));
    });

    const svcOf = () => keep(service({ target: { relational: rel, vector: vec }, profiles: { source: profile('source', { provider: 'sqlite', database: srcFile, logging: false }, { provider: 'sqlite-vec', path: srcFile, dimensions: 8, collection: 'vector_embeddings' }) }, dataDir }));

    it('a TRUNCATE into an empty target records empty backups, and restoring them empties the target again (verified)', async () => {
      expect(await rel.repository(DocumentEntity).count()).toBe(0);
      const svc = svcOf();
      const job = await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'TRUNCATE' }));
      expect(job.backups.map((b) => [b.step, b.rows, b.empty])).toEqual([
        ['users', 0, true],
        ['documents', 0, true],
      ]);
      expect(await rel.repository(DocumentEntity).count()).toBe(60);
      const restore = await succeeded(svc, svc.restoreBackup(job.id));
      expect(await rel.repository(DocumentEntity).count()).toBe(0);
      expect(restore.verification).toMatchObject({ ok: true, tables: [{ name: 'users', targetCount: 0, checksumMatch: true }, { name: 'documents', targetCount: 0, checksumMatch: true }] });
    });

    it('a restore is verified against the checksum recorded with the backup: a damaged snapshot fails the RESTORE job', async () => {
      const svc = svcOf();
      await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'TRUNCATE' })); // fills the target
      const job = await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'TRUNCATE' })); // backs the filled target up
      const snapshot = job.backups.find((b) => b.step === 'documents')!;
      expect(snapshot).toMatchObject({ rows: 60, checksum: expect.stringMatching(/^[0-9a-f]+$/) });
      await rel.dataSource.query(`DELETE FROM "${snapshot.name}" WHERE id = $1`, [documents(1, 4)[0].id]);
      const restore = await svc.waitFor((await svc.restoreBackup(job.id)).id);
      expect(restore).toMatchObject({ status: 'FAILED', errorCode: 'VERIFICATION_FAILED' });
      expect(restore.verification?.tables.find((t) => t.name === 'documents')).toMatchObject({ sourceCount: 60, targetCount: 59, checksumMatch: false });
    });
  });

  it('samples for recall are spread over the whole range and repeat for the same seed (defect 11)', () => {
    const picks = sampleIndices(10_000, 20, 'job-1');
    expect(picks).toHaveLength(20);
    expect(new Set(picks).size).toBe(20);
    expect(Math.max(...picks)).toBeGreaterThan(9_000);
    expect(Math.min(...picks)).toBeLessThan(1_000);
    expect(sampleIndices(10_000, 20, 'job-1')).toEqual(picks);
    expect(sampleIndices(10_000, 20, 'job-2')).not.toEqual(picks);
    expect(sampleIndices(5, 20, 'x')).toEqual([0, 1, 2, 3, 4]);
  });
});
