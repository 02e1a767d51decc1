import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { ChangeCapture, DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb, VectorRecord } from '@switchyard/vector-db';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { openRelational, openVector, profile, service } from './testing/fixtures';

const DIMS = 4;
const rec = (userId: string, documentId: string, i: number): VectorRecord => ({ id: `${userId}-${documentId}-${i}`, userId, documentId, chunkIndex: i, content: `chunk ${i}`, embedding: Float32Array.from([1, i + 1, 0.5, 0.25]), metadata: {} });

/** No vector without its document: a VECTORS job checks the target's vectors against the app's documents. */
describe('VECTORS verification finds vectors without a document (real SQLite)', () => {
  const dir = freshDir('sy-orphans-');
  const relConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('app.sqlite'), logging: false };
  const sourceConfig: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('old.sqlite'), dimensions: DIMS, collection: 'c' };
  let rel: RelationalDb;
  let src: VectorDb;
  let tgt: VectorDb;

  beforeAll(async () => {
    rel = await openRelational(relConfig);
    src = await openVector(sourceConfig, 'm');
    tgt = await openVector({ provider: 'sqlite-vec', path: dir.file('new.sqlite'), dimensions: DIMS, collection: 'c' }, 'm');
  });

  afterAll(async () => {
    await Promise.all([rel?.close(), src?.close(), tgt?.close()]);
    dir.remove();
  });

  it('a vector-only store (no document at all) is copied and says it was not checked; once documents exist, orphans fail the job, naming them', async () => {
    await src.upsert([rec('alice', 'a1', 0), rec('alice', 'a1', 1), rec('bob', 'gone', 0), rec('bob', 'gone', 1), rec('bob', 'gone', 2)]);
    const svc = service({ target: { relational: rel, vector: tgt }, profiles: { source: profile('source', relConfig, sourceConfig) }, dataDir: path.join(dir.dir, 'data') });
    try {
      const first = await svc.waitFor((await svc.start({ kind: 'VECTORS' })).id);
      expect(first.status).toBe('SUCCEEDED');
      expect(first.verification?.orphans ?? null).toBeNull();
      expect(first.verification?.notes.join(' ')).toMatch(/not checked against documents: .* holds none/);

      await rel.repository(UserEntity).insert([{ id: 'alice', roles: null, active: true }]);
      await rel.repository(DocumentEntity).insert({ id: 'd1', userId: 'alice', externalId: 'a1', content: 'x', contentBytes: 1, chunkCount: 2 });
      const second = await svc.waitFor((await svc.start({ kind: 'VECTORS', onConflict: 'TRUNCATE' })).id);
      expect([second.status, second.errorCode]).toEqual(['FAILED', 'VERIFICATION_FAILED']);
      expect(second.verification).toMatchObject({ ok: false, orphans: 3 });
      expect(second.error).toContain('3 vector(s) of 1 document(s) have no document row');
      expect(second.error).toContain('["bob","gone"]');

      await rel.repository(DocumentEntity).insert({ id: 'd2', userId: 'bob', externalId: 'gone', content: 'y', contentBytes: 1, chunkCount: 3 });
      const third = await svc.waitFor((await svc.start({ kind: 'VECTORS', onConflict: 'TRUNCATE' })).id);
      expect(third.status).toBe('SUCCEEDED');
      expect(third.verification).toMatchObject({ ok: true, orphans: 0 });
    } finally {
      await svc.close();
    }
  });
});

describe.each<'sqlite' | 'postgres'>(['sqlite', 'postgres'])('one live job per source (%s)', (engine) => {
  const dir = freshDir('sy-claim-');
  let db: RelationalDb;
  let drop: () => Promise<void> = async () => undefined;

  let config: RelationalDbConfig;

  beforeAll(async () => {
    config = { provider: 'sqlite', database: dir.file('src.sqlite'), logging: false };
    if (engine === 'postgres') {
      const pg = await freshPostgres('claim');
      drop = pg.drop;
      config = { provider: 'postgres', logging: false, ...pg.connection };
    }
    db = await openRelational(config);
  });

  afterAll(async () => {
    await db?.close();
    await drop();
    dir.remove();
  });

  it('finds every other logged change of the same keys (a key changed 50 times is copied once), by the log\'s key text', async () => {
    await db.repository(UserEntity).insert([{ id: 'dedup-user', roles: null, active: true }]);
    await db.repository(DocumentEntity).insert([
      { id: 'dd-1', userId: 'dedup-user', externalId: 'hot', content: 'v0', contentBytes: 2, chunkCount: 0 },
      { id: 'dd-2', userId: 'dedup-user', externalId: 'cold', content: 'v0', contentBytes: 2, chunkCount: 0 },
    ]);
    const capture = new ChangeCapture(db, [{ meta: db.metadata(DocumentEntity), name: 'documents' }], 'job-dedup');
    await capture.install();
    try {
      for (let v = 1; v <= 50; v++) await db.repository(DocumentEntity).update({ id: 'dd-1' }, { content: `v${v}` });
      await db.repository(DocumentEntity).update({ id: 'dd-2' }, { content: 'v1' });
      const [first] = await capture.pending(1);
      const others = await capture.sameKeys([first]);
      expect(others).toHaveLength(49);
      expect(new Set(others.map((c) => c.pk))).toEqual(new Set([first.pk]));
      expect(others.every((c) => c.seq !== first.seq)).toBe(true);
      await capture.consumed([first, ...others]);
      expect(await capture.backlog()).toBe(1); // only the cold document's change is left
    } finally {
      await capture.remove(false);
      await db.repository(DocumentEntity).delete({ userId: 'dedup-user' });
    }
  });

  it('a second job cannot install its capture beside another job\'s (they would consume each other\'s changes); the owner can again, and after removal anyone can', async () => {
    const tables = [{ meta: db.metadata(DocumentEntity), name: 'documents' }];
    const a = new ChangeCapture(db, tables, 'job-a');
    const b = new ChangeCapture(db, tables, 'job-b');
    await a.install();
    await expect(b.install()).rejects.toMatchObject({ code: 'MIGRATION_LOCKED', message: expect.stringContaining('live migration job job-a') });
    await expect(a.install()).resolves.toBeUndefined(); // a resumed run of the same job
    expect(await b.owner()).toBe('job-a');
    await expect(b.refusal()).resolves.toMatchObject({ code: 'MIGRATION_LOCKED' }); // found when the job is built
    // The refused job's cleanup leaves the other job's capture and freeze alone.
    await a.freeze('job-a');
    await b.unfreeze();
    await b.remove(false);
    expect(await a.owner()).toBe('job-a');
    expect(await a.frozen()).toBe(true);
    await a.unfreeze();
    expect(await a.frozen()).toBe(false);
    await a.remove(false);
    await expect(b.install()).resolves.toBeUndefined();
    await b.remove(false);
    expect(await a.owner()).toBeNull();
  });
  it('jobs claiming the source at the same instant from their own connections: one owns it, the others are MIGRATION_LOCKED, none fails otherwise', async () => {
    const tables = [{ meta: db.metadata(DocumentEntity), name: 'documents' }];
    for (let round = 0; round < 4; round++) {
      const handles = await Promise.all(Array.from({ length: 6 }, () => openRelational(config)));
      try {
        const results = await Promise.allSettled(handles.map((h, i) => new ChangeCapture(h, tables, `job-${round}-${i}`).install()));
        const codes = results.map((r) => (r.status === 'fulfilled' ? 'installed' : ((r.reason as { code?: string }).code ?? String(r.reason))));
        expect(codes.filter((c) => c === 'installed')).toHaveLength(1);
        expect(codes.filter((c) => c !== 'installed')).toEqual(Array(5).fill('MIGRATION_LOCKED'));
        await new ChangeCapture(db, tables, null).remove(false);
        expect(await new ChangeCapture(db, tables, null).owner()).toBeNull();
      } finally {
        for (const h of handles) await h.close();
      }
    }
  });
});
