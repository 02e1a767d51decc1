import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createRelationalDb, DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { startWriter } from './testing/writer-process';
import { openRelational, openVector, profile, service } from './testing/fixtures';
import { all, CHUNKS, DOCS, seedCorpus, relationalDigest } from './testing/corpus';

const DIMS = 32;
const WRITER = path.join(__dirname, 'testing', 'knowledge-writer.ts');

const digest = relationalDigest;

/**
 * The seed guide's "Development -> Production" as one job: SQLite + Chroma -> PostgreSQL + pgvector,
 * FULL_STACK and live, while the dev app (its own process, the KnowledgeService) keeps indexing,
 * re-indexing and deleting documents. One capture, one catch-up, one freeze (the SQLite database's own:
 * the dev app's writes are refused from then on), one verification of every table and every vector,
 * one cutover.
 */
describe('FULL_STACK live migration, SQLite + Chroma -> PostgreSQL + pgvector, with the dev app writing (real processes, real servers)', () => {
  const dir = freshDir('sy-stack-');
  const relConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('dev.sqlite'), logging: false };
  const chromaConfig: VectorDbConfig = { provider: 'chromadb', url: serviceEnv('TEST_CHROMA_URL'), dimensions: DIMS, collection: `stack_${randomBytes(4).toString('hex')}` };
  let dropPg: () => Promise<void> = async () => undefined;
  let targetRel: RelationalDb;
  let targetVec: VectorDb;
  let src: VectorDb;

  beforeAll(async () => {
    const pg = await freshPostgres('stack');
    dropPg = pg.drop;
    const devRel = await openRelational(relConfig);
    src = await openVector(chromaConfig, 'test-hash');
    await seedCorpus(devRel, src);
    await devRel.close();
    targetRel = await openRelational({ provider: 'postgres', logging: false, ...pg.connection });
    targetVec = await openVector({ provider: 'pgvector', connection: pg.connection, dimensions: DIMS, collection: 'chunks' } as VectorDbConfig, 'test-hash');
  });

  afterAll(async () => {
    await src?.reset().catch(() => undefined);
    await src?.close();
    await targetVec?.close();
    await targetRel?.close();
    await dropPg();
    dir.remove();
  });

  it('plans both halves, then ends CUT_OVER with relational and vectors both equal to the frozen source, no orphan', async () => {
    const profiles = { source: profile('source', relConfig, chromaConfig) };
    const svc = service({ target: { relational: targetRel, vector: targetVec }, profiles, dataDir: path.join(dir.dir, 'data'), defaultBatchSize: 500 });
    const plan = await svc.waitFor((await svc.start({ kind: 'FULL_STACK', dryRun: true })).id);
    expect(plan.status).toBe('PLANNED');
    expect(plan.plan?.steps.map((s) => [s.name, s.sourceCount])).toEqual([['users', 30], ['documents', DOCS], ['chunks', DOCS * CHUNKS]]);

    const writer = startWriter(WRITER, [JSON.stringify(relConfig), JSON.stringify(chromaConfig), '23', '5']);
    await writer.started(10, 30_000);
    const job = await svc.waitFor((await svc.start({ kind: 'FULL_STACK', live: true, throttleMs: 20 })).id);
    const refusedAt = writer.output().length;
    await new Promise((r) => setTimeout(r, 400));
    await writer.stop();
    await svc.close();
    const out = writer.output();
    expect([job.status, job.errorCode ?? null, job.error]).toEqual(['CUT_OVER', null, null]);
    expect(job.verification).toMatchObject({ ok: true, orphans: 0 });
    expect(job.verification!.indexRecallAt10).toBeGreaterThanOrEqual(0.99); // the target's search vs an exact scan of it
    expect(job.verification?.tables.map((t) => t.name)).toEqual(['users', 'documents', 'chunks']);
    const live = job.progress!.live!;
    console.log(`FULL_STACK live: ${writer.oks()} app writes accepted, ${live.rounds} catch-up round(s), ${live.applied} change(s) applied, freeze ${live.freezeMs} ms`);
    expect(live.applied).toBeGreaterThan(0);
    expect(out.slice(refusedAt)).toMatch(/^refused \S+ .*MAINTENANCE: this database is frozen/m);
    expect(writer.otherRefusals()).toEqual([]);

    const source = createRelationalDb(relConfig, { readOnly: true });
    await source.init();
    try {
      expect(await digest(targetRel)).toEqual(await digest(source));
    } finally {
      await source.close();
    }
    const [a, b] = [await all(src), await all(targetVec)];
    expect(b.size).toBe(a.size);
    expect([...b].filter(([id, h]) => a.get(id) !== h)).toEqual([]);
    const docs = await targetRel.repository(DocumentEntity).find({ select: { userId: true, externalId: true } });
    const known = new Set(docs.map((d) => `${d.userId}/${d.externalId}`));
    const orphans: string[] = [];
    for await (const page of targetVec.scan(2000)) for (const r of page) if (!known.has(`${r.userId}/${r.documentId}`)) orphans.push(r.id);
    expect(orphans).toEqual([]);

    // Rolling back to the dev stack: unfreeze, and every table takes writes again (no trigger is left
    // behind, the documents' second set included).
    const svc2 = service({ target: { relational: targetRel, vector: targetVec }, profiles, dataDir: path.join(dir.dir, 'data') });
    expect(await svc2.unfreeze('source')).toBe(true);
    await svc2.close();
    const dev = await openRelational(relConfig);
    try {
      await dev.repository(UserEntity).insert({ id: 'after-rollback', roles: null, active: true });
      await dev.repository(DocumentEntity).insert({ id: 'after-rollback-doc', userId: 'after-rollback', externalId: 'x', content: 'y', contentBytes: 1, chunkCount: 0 });
      await dev.repository(DocumentEntity).update({ id: 'after-rollback-doc' }, { content: 'z' });
      await dev.repository(DocumentEntity).delete({ id: 'after-rollback-doc' });
      const left = (await dev.dataSource.query("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sy_cc_%'")) as { name: string }[];
      expect(left).toEqual([]);
    } finally {
      await dev.close();
    }
  }, 300_000);
});
