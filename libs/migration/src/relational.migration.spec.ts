import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { DocumentEntity, MigrationJobEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { MigrationService } from './migration.service';
import { documents, openRelational, openVector, profile, seedRelational, service, succeeded } from './testing/fixtures';

const USERS = 200;
const DOCS = 10_000;

describe('relational migration (SQLite <-> PostgreSQL, real servers)', () => {
  const dir = freshDir('sy-mig-rel-');
  const dataDir = path.join(dir.dir, 'data');
  let pgDrop: () => Promise<void>;
  let sqliteSource: RelationalDbConfig;
  let pgConfig: RelationalDbConfig;
  const unusedVectors: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('unused-vectors.sqlite'), dimensions: 4, collection: 'unused' };
  let source: RelationalDb;
  let pg: RelationalDb;
  let pgVectors: VectorDb;
  let svc: MigrationService;
  let copyJobId: string;
  let sourceChecksums: Record<string, string>;

  beforeAll(async () => {
    const server = await freshPostgres('migrel');
    pgDrop = server.drop;
    sqliteSource = { provider: 'sqlite', database: dir.file('source.sqlite'), logging: false };
    pgConfig = { provider: 'postgres', logging: false, ...server.connection };
    source = await openRelational(sqliteSource);
    await seedRelational(source, USERS, DOCS);
    pg = await openRelational(pgConfig);
    pgVectors = await openVector({ provider: 'sqlite-vec', path: dir.file('pg-side-vectors.sqlite'), dimensions: 4, collection: 'v' }, 'm');
    svc = service({ target: { relational: pg, vector: pgVectors }, profiles: { source: profile('source', sqliteSource, unusedVectors) }, dataDir });
  });

  afterAll(async () => {
    await svc?.close();
    await source?.close();
    await pg?.close();
    await pgVectors?.close();
    await pgDrop?.();
    dir.remove();
  });

  it('plans without writing: counts on both sides, no conflicts, an estimate', async () => {
    const job = await succeeded(svc, svc.start({ kind: 'RELATIONAL', dryRun: true }));
    expect(job.status).toBe('PLANNED');
    const plan = job.plan!;
    expect(plan.steps.map((s) => [s.name, s.sourceCount, s.targetCount, s.conflictingIds, s.invalid])).toEqual([
      ['users', USERS, 0, 0, 0],
      ['documents', DOCS, 0, 0, 0],
    ]);
    expect(plan.source.relational).toMatch(/^sqlite:/);
    expect(plan.target.relational).toMatch(/^postgres:/);
    expect(plan.refusal).toBeNull();
    expect(plan.estimatedSeconds).toBeGreaterThanOrEqual(0);
    expect(await pg.repository(DocumentEntity).count()).toBe(0);
    expect(await pg.repository(UserEntity).count()).toBe(0);
  });

  it('copies SQLite -> PostgreSQL: every row, types intact, verified by checksum, progress per table', async () => {
    const seen: number[] = [];
    const t0 = Date.now();
    const started = await svc.start({ kind: 'RELATIONAL', batchSize: 1000 });
    const off = svc.subscribe(started.id, (j) => j.progress && seen.push(j.progress.done));
    const job = await succeeded(svc, started);
    off();
    const ms = Date.now() - t0;
    copyJobId = job.id;
    expect(job.verification?.ok).toBe(true);
    expect(job.verification?.tables.map((t) => [t.name, t.sourceCount, t.targetCount, t.checksumMatch])).toEqual([
      ['users', USERS, USERS, true],
      ['documents', DOCS, DOCS, true],
    ]);
    sourceChecksums = Object.fromEntries(job.verification!.tables.map((t) => [t.name, t.sourceChecksum!]));
    expect(job.progress).toMatchObject({ total: USERS + DOCS, done: USERS + DOCS, phase: 'done' });
    expect(job.progress!.steps.map((s) => [s.name, s.read, s.written, s.errors, s.finished])).toEqual([
      ['users', USERS, USERS, 0, true],
      ['documents', DOCS, DOCS, 0, true],
    ]);
    expect(seen.length).toBeGreaterThanOrEqual(11);
    expect(seen[seen.length - 1]).toBe(USERS + DOCS);
    console.log(`SQLite -> PostgreSQL: ${USERS + DOCS} rows in ${ms} ms (${Math.round(((USERS + DOCS) * 1000) / ms)} rows/s incl. verification; copy rate ${job.progress!.ratePerSecond} rows/s)`);

    const want = documents(DOCS, USERS);
    for (const i of [0, 1, 7, 4321, 9999]) {
      const got = await pg.repository(DocumentEntity).findOneByOrFail({ id: want[i].id });
      expect(got.content).toBe(want[i].content);
      expect(got.title).toBe(want[i].title);
      expect(got.metadata).toEqual(want[i].metadata);
      expect(got.indexedAt?.toISOString() ?? null).toBe(want[i].indexedAt?.toISOString() ?? null);
      expect(got.createdAt.toISOString()).toBe(want[i].createdAt.toISOString());
      expect(got.updatedAt.toISOString()).toBe(want[i].updatedAt.toISOString());
    }
    const u = await pg.repository(UserEntity).findOneByOrFail({ id: 'u0003' });
    expect(u).toMatchObject({ active: false, email: 'user3@exämple.org', displayName: null, roles: ['admin', 'reader'] });
  });

  it('re-running a finished job is a no-op; a second copy into the now non-empty target is refused under FAIL before any write', async () => {
    const again = await svc.resume(copyJobId);
    expect(again.status).toBe('SUCCEEDED');
    expect(again.finishedAt).toEqual((await svc.get(copyJobId)).finishedAt);

    await pg.repository(DocumentEntity).update({ id: 'd-000002' }, { title: 'changed in the target' });
    await expect(svc.start({ kind: 'RELATIONAL' })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/table "switchyard_users" at postgres:\S+ already holds 200 records; table "switchyard_documents" at postgres:\S+ already holds 10000 records/),
    });
    const refused = (await svc.list())[0];
    expect(refused).toMatchObject({ status: 'FAILED', errorCode: 'CONFLICT' });
    expect(await pg.repository(DocumentEntity).count()).toBe(DOCS);
    expect((await pg.repository(DocumentEntity).findOneByOrFail({ id: 'd-000002' })).title).toBe('changed in the target');
  });

  it('SKIP keeps what the target has; OVERWRITE replaces it after a snapshot backup', async () => {
    const skip = await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'SKIP' }));
    expect(skip.progress!.steps.map((s) => [s.name, s.written, s.skipped])).toEqual([
      ['users', 0, USERS],
      ['documents', 0, DOCS],
    ]);
    expect(skip.backups).toEqual([]);
    expect((await pg.repository(DocumentEntity).findOneByOrFail({ id: 'd-000002' })).title).toBe('changed in the target');
    // SKIP into a non-empty target: compared by key (every source id present), the target's versions kept on purpose
    expect(skip.verification?.ok).toBe(true);
    expect(skip.verification?.notes.join(' ')).toMatch(/documents: the target held 10000 records before the job, so it was compared by key: every moved source id is in it/);

    const over = await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'OVERWRITE' }));
    expect(over.verification?.ok).toBe(true);
    expect(over.backups.map((b) => [b.step, b.kind, b.name, b.rows])).toEqual([
      ['users', 'table', expect.stringMatching(new RegExp(`^switchyard_users_backup_${over.id.slice(0, 8)}_[0-9a-f]{8}$`)), USERS],
      ['documents', 'table', expect.stringMatching(new RegExp(`^switchyard_documents_backup_${over.id.slice(0, 8)}_[0-9a-f]{8}$`)), DOCS],
    ]);
    expect((await pg.repository(DocumentEntity).findOneByOrFail({ id: 'd-000002' })).title).toBe(documents(3, USERS)[2].title);
  });

  it('TRUNCATE empties the target after a backup, and restoreBackup puts the old rows back', async () => {
    await pg.repository(DocumentEntity).delete({ userId: 'u0001' });
    const before = await pg.repository(DocumentEntity).count();
    expect(before).toBe(DOCS - DOCS / USERS);
    const job = await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'TRUNCATE' }));
    expect(job.verification?.ok).toBe(true);
    expect(await pg.repository(DocumentEntity).count()).toBe(DOCS);
    expect(job.backups.find((b) => b.step === 'documents')?.rows).toBe(before);

    const restore = await succeeded(svc, svc.restoreBackup(job.id));
    expect(restore.kind).toBe('RESTORE');
    expect(await pg.repository(DocumentEntity).count()).toBe(before);
    expect(await pg.repository(DocumentEntity).countBy({ userId: 'u0001' })).toBe(0);
    // back to the migrated state for the tests below; verify on demand, by job and by kind
    const over = await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'OVERWRITE' }));
    await pg.repository(UserEntity).update({ id: 'u0003' }, { active: true });
    const now = await svc.verify({ kind: 'RELATIONAL' });
    expect(now.ok).toBe(false);
    expect(now.tables.map((t) => [t.name, t.checksumMatch])).toEqual([
      ['users', false],
      ['documents', true],
    ]);
    // The differing key is named (found through the buckets whose sums differ), not just "some records changed".
    expect(now.notes.join(' ')).toContain('users: differing keys: 1 with other content (e.g. "u0003")');
    // verify(id) re-checks a job and stores the result on it (the update above also moved updated_at)
    expect((await svc.verify(over.id)).ok).toBe(false);
    expect((await svc.get(over.id)).verification?.tables[0]).toMatchObject({ name: 'users', checksumMatch: false });
    expect((await succeeded(svc, svc.start({ kind: 'RELATIONAL', onConflict: 'OVERWRITE' }))).verification?.ok).toBe(true);
  });

  it('one migration per target: a second start gets MIGRATION_LOCKED naming the holder; cancel frees it', async () => {
    const slow = await svc.start({ kind: 'RELATIONAL', onConflict: 'OVERWRITE', batchSize: 250, throttleMs: 20 });
    await expect(svc.start({ kind: 'RELATIONAL', onConflict: 'SKIP' })).rejects.toMatchObject({ code: 'MIGRATION_LOCKED', message: expect.stringContaining(slow.id) });
    const c = await svc.cancel(slow.id);
    expect(c.status).toBe('CANCELLED');
    expect(c.errorCode).toBe('CANCELLED');
    // resumable from its checkpoints, and the lock is free again
    const resumed = await succeeded(svc, svc.resume(slow.id));
    expect(resumed.verification?.ok).toBe(true);
    // a cancelled job can also be run again from the start (overwrite), without its checkpoints
    const again = await svc.start({ kind: 'RELATIONAL', onConflict: 'OVERWRITE', batchSize: 250, throttleMs: 20 });
    for (let waited = 0; ((await svc.get(again.id)).progress?.done ?? 0) === 0 && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    expect((await svc.cancel(again.id)).progress?.done).toBeGreaterThan(0);
    const restarted = await svc.resume(again.id, { overwrite: true });
    expect(restarted.progress?.done ?? 0).toBe(0); // from the start: no checkpoint carried over
    expect((await succeeded(svc, Promise.resolve(restarted))).verification?.ok).toBe(true);
  });

  it('rolls back: PostgreSQL -> a fresh SQLite, with the same checksums as the original SQLite', async () => {
    const back = await openRelational({ provider: 'sqlite', database: dir.file('rollback.sqlite'), logging: false });
    const backVectors = await openVector({ provider: 'sqlite-vec', path: dir.file('rollback.sqlite'), dimensions: 4, collection: 'v' }, 'm');
    const reverse = service({ target: { relational: back, vector: backVectors }, profiles: { pg: profile('pg', pgConfig, unusedVectors) }, dataDir });
    try {
      const t0 = Date.now();
      const job = await succeeded(reverse, reverse.start({ kind: 'RELATIONAL', source: 'pg', batchSize: 2000 }));
      console.log(`PostgreSQL -> SQLite: ${USERS + DOCS} rows in ${Date.now() - t0} ms (copy rate ${job.progress!.ratePerSecond} rows/s)`);
      expect(job.verification?.ok).toBe(true);
      expect(Object.fromEntries(job.verification!.tables.map((t) => [t.name, t.targetChecksum]))).toEqual(sourceChecksums);
      const d = await back.repository(DocumentEntity).findOneByOrFail({ id: 'd-000001' });
      expect(d.content.length).toBeGreaterThan(500_000);
      expect((await back.repository(UserEntity).findOneByOrFail({ id: 'u0002' })).active).toBe(true);
    } finally {
      await reverse.close();
      await back.close();
      await backVectors.close();
    }
  });

  it('exports to NDJSON and imports into another database, equal by checksum; paths stay inside the data dir', async () => {
    const exp = await succeeded(svc, svc.exportData({ kind: 'RELATIONAL', path: 'exports/relational.ndjson' }));
    expect(exp.verification?.ok).toBe(true);
    expect(existsSync(path.join(dataDir, 'exports/relational.ndjson'))).toBe(true);
    await expect(svc.exportData({ kind: 'RELATIONAL', path: 'exports/relational.ndjson' })).rejects.toMatchObject({ code: 'CONFLICT' });

    const other = await openRelational({ provider: 'sqlite', database: dir.file('imported.sqlite'), logging: false });
    const otherVectors = await openVector({ provider: 'sqlite-vec', path: dir.file('imported.sqlite'), dimensions: 4, collection: 'v' }, 'm');
    const importer = service({ target: { relational: other, vector: otherVectors }, profiles: {}, dataDir });
    try {
      const imp = await succeeded(importer, importer.importData({ kind: 'RELATIONAL', path: 'exports/relational.ndjson' }));
      expect(imp.verification?.ok).toBe(true);
      expect(Object.fromEntries(imp.verification!.tables.map((t) => [t.name, t.targetChecksum]))).toEqual(sourceChecksums);
      await expect(importer.importData({ kind: 'VECTORS', path: 'exports/relational.ndjson' })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    } finally {
      await importer.close();
      await other.close();
      await otherVectors.close();
    }
    mkdirSync(path.join(dir.dir, 'outside'), { recursive: true });
    for (const bad of ['../outside/x.ndjson', 'a/../../x.ndjson', path.join(dir.dir, 'outside', 'x.ndjson'), '/etc/passwd', '']) {
      await expect(svc.exportData({ kind: 'RELATIONAL', path: bad })).rejects.toMatchObject({ code: 'BAD_INPUT' });
      await expect(svc.importData({ kind: 'RELATIONAL', path: bad })).rejects.toMatchObject({ code: 'BAD_INPUT' });
    }
    await expect(svc.exportData({ kind: 'RELATIONAL', path: path.join(dataDir, 'exports', 'absolute-inside.ndjson') })).resolves.toMatchObject({ kind: 'EXPORT' });
  });

  it('reports rows the target cannot hold (too long, NUL) in the plan, and rejects them in a run', async () => {
    const badConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('bad.sqlite'), logging: false };
    const bad = await openRelational(badConfig);
    const [a, b, c] = documents(3, 1);
    a.title = 'T'.repeat(1001);
    b.content = 'nul \u0000 inside';
    await bad.insertRows(DocumentEntity, [a, b, c], 'error');
    await bad.close();
    const target = await openRelational(pgConfig);
    const s2 = service({ target: { relational: target, vector: pgVectors }, profiles: { bad: profile('bad', badConfig, unusedVectors) }, dataDir });
    try {
      const planned = await succeeded(s2, s2.start({ kind: 'RELATIONAL', source: 'bad', dryRun: true, onConflict: 'SKIP' }));
      const plan = planned.plan!;
      const docs = plan.steps.find((s) => s.name === 'documents')!;
      expect(docs.invalid).toBe(2);
      expect(docs.invalidExamples).toEqual([
        { id: a.id, reason: expect.stringContaining('title has 1001 characters; the target column holds at most 1000') },
        { id: b.id, reason: expect.stringContaining('NUL') },
      ]);
      expect(docs.conflictingIds).toBe(3);
      expect(plan.warnings.join(' ')).toMatch(/2 record\(s\) of documents cannot be moved/);
      expect(await target.repository(MigrationJobEntity).countBy({ id: planned.id })).toBe(1);

      const ran = await s2.waitFor((await s2.run(planned.id)).id);
      expect(ran.status).toBe('SUCCEEDED_WITH_REJECTS');
      expect(ran.verification?.ok).toBe(true);
      expect(ran.dryRun).toBe(false);
      const lines = readFileSync(path.join(dataDir, ran.options.rejectFile!), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => [l.step, l.id, l.reason])).toEqual([
        ['documents', a.id, expect.stringContaining('title has 1001 characters')],
        ['documents', b.id, expect.stringContaining('NUL')],
      ]);
      expect(lines[1].record.r.content).toBe('nul \u0000 inside');
      expect(ran.progress!.steps.find((s) => s.name === 'documents')).toMatchObject({ read: 3, written: 0, skipped: 1, errors: 2 });
      expect(ran.progress!.steps.find((s) => s.name === 'documents')!.rejected.map((r) => r.id)).toEqual([a.id, b.id]);
    } finally {
      await s2.close();
      await target.close();
    }
  });
});
