import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { lastValueFrom, toArray } from 'rxjs';
import { ChromaClient } from 'chromadb';
import { PostgresConnection, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { makeRecords } from '../../vector-db/src/testing/records';
import { MigrationService } from './migration.service';
import { openRelational, openVector, profile, service, succeeded } from './testing/fixtures';

const DIMS = 32;
const CHROMA_N = 2000;
const SQLITE_N = 10_000;

describe('vector migration between drivers (Chroma, pgvector, sqlite-vec; real servers)', () => {
  const dir = freshDir('sy-mig-vec-');
  const dataDir = path.join(dir.dir, 'data');
  const chromaUrl = serviceEnv('TEST_CHROMA_URL');
  const chromaSource = `mig_src_${randomBytes(4).toString('hex')}`;
  const chromaTarget = `mig_dst_${randomBytes(4).toString('hex')}`;
  const unusedRelational: RelationalDbConfig = { provider: 'sqlite', database: dir.file('unused.sqlite'), logging: false };
  let pgDrop: () => Promise<void>;
  let pgUrl: string;
  let conn: PostgresConnection;
  let pgRel: RelationalDb;
  let pgVec: VectorDb;
  let svc: MigrationService;
  let chromaChecksum: string;
  const cleanups: (() => Promise<unknown>)[] = [];

  const chromaConfig = (collection: string, dimensions = DIMS): VectorDbConfig => ({ provider: 'chromadb', url: chromaUrl, dimensions, collection });
  const pgvConfig = (collection: string, dimensions = DIMS): VectorDbConfig => ({ provider: 'pgvector', connection: conn, dimensions, collection });
  const sqliteVecConfig = (file: string, dimensions = DIMS): VectorDbConfig => ({ provider: 'sqlite-vec', path: dir.file(file), dimensions, collection: 'vector_embeddings' });

  async function hnswIndexes(table: string): Promise<string[]> {
    const c = new Client({ connectionString: pgUrl });
    await c.connect();
    try {
      const r = await c.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [table]);
      return r.rows.map((x) => x.indexdef as string).filter((d) => /USING hnsw/.test(d));
    } finally {
      await c.end();
    }
  }

  beforeAll(async () => {
    const pg = await freshPostgres('migvec');
    pgDrop = pg.drop;
    pgUrl = pg.url;
    conn = pg.connection;
    const src = await openVector(chromaConfig(chromaSource), 'model-a');
    await src.upsert(makeRecords(CHROMA_N, DIMS, { seed: 11, users: 4, prefix: 'c' }));
    await src.close();
    pgRel = await openRelational({ provider: 'postgres', logging: false, ...conn });
    pgVec = await openVector(pgvConfig('vector_embeddings'), 'model-a');
    svc = service({
      target: { relational: pgRel, vector: pgVec },
      profiles: {
        chroma: profile('chroma', unusedRelational, chromaConfig(chromaSource)),
        lite: profile('lite', unusedRelational, sqliteVecConfig('lite.sqlite')),
        wide: profile('wide', unusedRelational, sqliteVecConfig('wide.sqlite', 48)),
        other: profile('other', unusedRelational, sqliteVecConfig('other-model.sqlite')),
      },
      dataDir,
    });
  });

  afterAll(async () => {
    await svc?.close();
    for (const c of cleanups) await c().catch(() => undefined);
    await pgVec?.close();
    await pgRel?.close();
    for (const name of [chromaSource, chromaTarget]) {
      const db = await openVector(chromaConfig(name, 1), null).catch(() => null);
      await db?.reset().catch(() => undefined);
    }
    await pgDrop?.();
    dir.remove();
  });

  it('ChromaDB -> pgvector: plan, copy, verified equal by checksum, recall@10 ~ 1, HNSW rebuilt after the load', async () => {
    const plan = (await succeeded(svc, svc.start({ kind: 'VECTORS', source: 'chroma', dryRun: true }))).plan!;
    expect(plan.source.vector).toMatchObject({ provider: 'chromadb', dimensions: DIMS, metric: 'cosine', model: 'model-a' });
    expect(plan.target.vector).toMatchObject({ provider: 'pgvector', dimensions: DIMS, metric: 'cosine' });
    expect(plan.steps).toEqual([expect.objectContaining({ sourceCount: CHROMA_N, targetCount: 0, conflictingIds: 0, invalid: 0 })]);
    expect(plan.refusal).toBeNull();
    expect(await pgVec.count()).toBe(0);

    const t0 = Date.now();
    const started = await svc.start({ kind: 'VECTORS', source: 'chroma', batchSize: 500 });
    const updates = lastValueFrom(svc.progress$(started.id).pipe(toArray()));
    const job = await succeeded(svc, started);
    const seen = await updates;
    expect(seen[0].status).toBe('RUNNING');
    expect(seen[seen.length - 1]).toMatchObject({ status: 'SUCCEEDED', progress: { done: CHROMA_N, total: CHROMA_N } });
    expect(seen.filter((j) => j.progress?.phase === 'copy').map((j) => j.progress!.done)).toEqual(expect.arrayContaining([500, 1000, 1500, 2000]));
    console.log(`ChromaDB -> pgvector: ${CHROMA_N} vectors in ${Date.now() - t0} ms incl. verification (copy rate ${job.progress!.ratePerSecond}/s)`);
    expect(job.verification).toMatchObject({ ok: true, tables: [{ name: 'vector_embeddings', sourceCount: CHROMA_N, targetCount: CHROMA_N, checksumMatch: true }] });
    expect(job.verification!.recallAt10).toBeGreaterThanOrEqual(0.95);
    expect(job.verification!.indexRecallAt10).toBeGreaterThanOrEqual(0.99);
    chromaChecksum = job.verification!.tables[0].sourceChecksum!;
    expect(await pgVec.count()).toBe(CHROMA_N);
    expect((await pgVec.describe()).storedModel).toBe('model-a');
    expect(await hnswIndexes('vector_embeddings')).toHaveLength(1);
  });

  it('refuses a non-empty target under FAIL before any write', async () => {
    await expect(svc.start({ kind: 'VECTORS', source: 'chroma' })).rejects.toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining(`pgvector collection "vector_embeddings" at ${pgVec.location} already holds ${CHROMA_N} records`),
    });
    expect(await pgVec.count()).toBe(CHROMA_N);
  });

  it('pgvector -> ChromaDB: equal by checksum to the original Chroma collection', async () => {
    const rel = await openRelational({ provider: 'sqlite', database: dir.file('chroma-side.sqlite'), logging: false });
    const chroma = await openVector(chromaConfig(chromaTarget), 'model-a');
    const back = service({ target: { relational: rel, vector: chroma }, profiles: { pg: profile('pg', { provider: 'postgres', logging: false, ...conn }, pgvConfig('vector_embeddings')) }, dataDir });
    cleanups.push(() => back.close(), () => rel.close(), () => chroma.close());
    const t0 = Date.now();
    const job = await succeeded(back, back.start({ kind: 'VECTORS', source: 'pg', batchSize: 1000 }));
    console.log(`pgvector -> ChromaDB: ${CHROMA_N} vectors in ${Date.now() - t0} ms incl. verification (copy rate ${job.progress!.ratePerSecond}/s)`);
    expect(job.verification?.ok).toBe(true);
    expect(job.verification!.tables[0].targetChecksum).toBe(chromaChecksum);
    expect(job.verification!.recallAt10).toBeGreaterThanOrEqual(0.95);
  });

  it(`sqlite-vec -> pgvector: ${SQLITE_N} vectors, verified equal`, async () => {
    const lite = await openVector(sqliteVecConfig('lite.sqlite'), 'model-a');
    await lite.upsert(makeRecords(SQLITE_N, DIMS, { seed: 5, users: 5, prefix: 's' }));
    await lite.close();
    const target = await openVector(pgvConfig('from_sqlite_vec'), 'model-a');
    const s2 = service({ target: { relational: pgRel, vector: target }, profiles: { lite: profile('lite', unusedRelational, sqliteVecConfig('lite.sqlite')) }, dataDir });
    cleanups.push(() => s2.close(), () => target.close());
    const t0 = Date.now();
    const job = await succeeded(s2, s2.start({ kind: 'VECTORS', source: 'lite', batchSize: 2000 }));
    console.log(`sqlite-vec -> pgvector: ${SQLITE_N} vectors in ${Date.now() - t0} ms incl. verification (copy rate ${job.progress!.ratePerSecond}/s)`);
    expect(job.verification).toMatchObject({ ok: true, tables: [{ sourceCount: SQLITE_N, targetCount: SQLITE_N, checksumMatch: true }] });
    expect(job.verification!.recallAt10).toBeGreaterThanOrEqual(0.95);
    expect(await hnswIndexes('from_sqlite_vec')).toHaveLength(1);
  });

  it('refuses a dimension mismatch before any write, saying which side has what and suggesting a re-index', async () => {
    const wide = await openVector(sqliteVecConfig('wide.sqlite', 48), 'model-a');
    await wide.upsert(makeRecords(20, 48, { prefix: 'w' }));
    await wide.close();
    const empty = await openVector(pgvConfig('empty_target'), 'model-a');
    const s3 = service({ target: { relational: pgRel, vector: empty }, profiles: { wide: profile('wide', unusedRelational, sqliteVecConfig('wide.sqlite', 48)) }, dataDir });
    cleanups.push(() => s3.close(), () => empty.close());
    const err = await s3.start({ kind: 'VECTORS', source: 'wide', onConflict: 'TRUNCATE' }).catch((e) => e);
    expect(err).toMatchObject({ code: 'DIMENSION_MISMATCH' });
    expect(err.message).toMatch(/sqlite-vec collection "vector_embeddings" at \S+wide\.sqlite holds 48-dimensional vectors made with "model-a"/);
    expect(err.message).toMatch(/pgvector collection "empty_target" .* is configured for 32 dimensions/);
    expect(err.message).toMatch(/REINDEX/);
    expect(err.details.jobId).toBeDefined();
    expect(await s3.get(err.details.jobId)).toMatchObject({ status: 'FAILED', errorCode: 'DIMENSION_MISMATCH' });
    expect(await empty.count()).toBe(0);
    const plan = (await succeeded(s3, s3.start({ kind: 'VECTORS', source: 'wide', dryRun: true }))).plan!;
    expect(plan.refusal?.code).toBe('DIMENSION_MISMATCH');
    expect(plan.steps[0]).toMatchObject({ invalid: 20, invalidExamples: expect.arrayContaining([expect.objectContaining({ reason: expect.stringContaining('48 dimensions') })]) });
  });

  it('refuses vectors made with another embedding model than the target is configured for', async () => {
    const other = await openVector(sqliteVecConfig('other-model.sqlite'), 'model-z');
    await other.upsert(makeRecords(5, DIMS, { prefix: 'z' }));
    await other.close();
    await expect(svc.start({ kind: 'VECTORS', source: 'other', onConflict: 'SKIP' })).rejects.toMatchObject({ code: 'MODEL_MISMATCH', message: expect.stringMatching(/"model-z".*"model-a"/) });
    expect(await pgVec.count()).toBe(CHROMA_N);
  });

  it('refuses a collection made by another tool with the l2 metric (the seed guide\'s Chroma), suggesting a re-index', async () => {
    const name = `seed_guide_${randomBytes(3).toString('hex')}`;
    const u = new URL(chromaUrl);
    const client = new ChromaClient({ host: u.hostname, port: Number(u.port) });
    const coll = await client.createCollection({ name, embeddingFunction: null as never });
    const recs = makeRecords(3, DIMS, { prefix: 'g' });
    await coll.add({ ids: recs.map((r) => r.id), embeddings: recs.map((r) => Array.from(r.embedding)), documents: recs.map((r) => r.content), metadatas: recs.map((r) => ({ user_id: r.userId, document_id: r.documentId })) });
    cleanups.push(() => client.deleteCollection({ name }));
    const s4 = service({ target: { relational: pgRel, vector: pgVec }, profiles: { seed: profile('seed', unusedRelational, chromaConfig(name)) }, dataDir });
    cleanups.push(() => s4.close());
    const plan = (await succeeded(s4, s4.start({ kind: 'VECTORS', source: 'seed', dryRun: true, onConflict: 'SKIP' }))).plan!;
    expect(plan.source.vector).toMatchObject({ dimensions: DIMS, metric: 'l2', model: null });
    expect(plan.warnings.join(' ')).toMatch(/does not record which embedding model/);
    await expect(s4.start({ kind: 'VECTORS', source: 'seed', onConflict: 'SKIP' })).rejects.toMatchObject({ code: 'METRIC_MISMATCH', message: expect.stringMatching(/uses the l2 distance .* cosine.*REINDEX/) });
    expect(await pgVec.count()).toBe(CHROMA_N);
  });

  it('exports vectors to NDJSON (header with dimensions, metric, model) and imports them elsewhere, equal by checksum; TRUNCATE backs up to a file', async () => {
    const exp = await succeeded(svc, svc.exportData({ kind: 'VECTORS', path: 'vectors.ndjson' }));
    expect(exp.verification).toMatchObject({ ok: true, tables: [{ sourceCount: CHROMA_N, targetCount: CHROMA_N }] });
    expect(exp.verification!.tables[0].targetChecksum).toBe(chromaChecksum);

    const rel = await openRelational({ provider: 'sqlite', database: dir.file('import-side.sqlite'), logging: false });
    const vec = await openVector(sqliteVecConfig('import-side.sqlite'), 'model-a');
    const imp = service({ target: { relational: rel, vector: vec }, profiles: {}, dataDir });
    cleanups.push(() => imp.close(), () => rel.close(), () => vec.close());
    const first = await succeeded(imp, imp.importData({ kind: 'VECTORS', path: 'vectors.ndjson' }));
    expect(first.verification?.ok).toBe(true);
    expect(first.verification!.tables[0].targetChecksum).toBe(chromaChecksum);
    expect((await vec.describe()).storedModel).toBe('model-a');

    await vec.deleteIds(['c-0000000', 'c-0000001']);
    const again = await succeeded(imp, imp.importData({ kind: 'VECTORS', path: 'vectors.ndjson', onConflict: 'TRUNCATE' }));
    expect(again.verification?.ok).toBe(true);
    expect(again.backups).toEqual([expect.objectContaining({ kind: 'file', rows: CHROMA_N - 2, name: expect.stringMatching(new RegExp(`^backups/vector_embeddings_backup_${again.id.slice(0, 8)}_[0-9a-f]{8}\\.ndjson$`)) })]);
    expect(existsSync(path.join(dataDir, again.backups[0].name))).toBe(true);
    const restore = await succeeded(imp, imp.restoreBackup(again.id));
    expect(restore.verification?.ok).toBe(true);
    expect(await vec.count()).toBe(CHROMA_N - 2);
  });
});
