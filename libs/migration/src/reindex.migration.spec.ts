import * as path from 'node:path';
import { PostgresConnection, VectorDbConfig } from '@switchyard/core';
import { XenovaEmbeddings } from '@switchyard/embeddings';
import { chunkId, createChunker } from '@switchyard/knowledge';
import { DocumentEntity, DocumentsRepository, RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { existsSync, readFileSync } from 'node:fs';
import { Client } from 'pg';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { rng } from '../../vector-db/src/testing/records';
import { MigrationService } from './migration.service';
import { openRelational, openVector, service, succeeded } from './testing/fixtures';

const DOCS = 120;
const WORDS = ['database', 'vector', 'search', 'migration', 'index', 'model', 'query', 'user', 'chunk', 'server', 'backup', 'restore', 'embedding', 'table', 'row', 'column', 'cluster', 'replica', 'latency', 'throughput'];

/** A few paragraphs of distinct text per document. */
function text(i: number): string {
  const next = rng(1000 + i);
  const sentence = () => Array.from({ length: 12 }, () => WORDS[Math.floor(next() * WORDS.length)]).join(' ') + '.';
  return Array.from({ length: 3 + (i % 4) }, (_, p) => `Paragraph ${p} of document ${i}. ${Array.from({ length: 4 }, sentence).join(' ')}`).join('\n\n');
}

describe('re-index after an embedding model change (32 -> 48 dimensions; real servers, generated test models)', () => {
  const dir = freshDir('sy-mig-reidx-');
  const dataDir = path.join(dir.dir, 'data');
  const chunk = createChunker({ chunkSize: 300, chunkOverlap: 40 });
  const small = new XenovaEmbeddings({ model: 'ignored', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), batchSize: 32 });
  const wide = new XenovaEmbeddings({ model: 'ignored', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH_ALT'), batchSize: 32 });
  let drop: () => Promise<void>;
  let conn: PostgresConnection;
  let pgUrl: string;
  let rel: RelationalDb;
  let expectedChunks = 0;
  const open: { close(): Promise<void> }[] = [];
  const vectors = (dimensions: number): VectorDbConfig => ({ provider: 'pgvector', connection: conn, dimensions, collection: 'vector_embeddings' });

  async function target(dimensions: number, model: string): Promise<VectorDb> {
    const v = await openVector(vectors(dimensions), model);
    open.push(v);
    return v;
  }

  function reindexer(vector: VectorDb, embeddings: XenovaEmbeddings): MigrationService {
    const s = service({ target: { relational: rel, vector }, embeddings, profiles: {}, dataDir, chunk, defaultBatchSize: 25 });
    open.push(s);
    return s;
  }

  beforeAll(async () => {
    const pg = await freshPostgres('migreidx');
    drop = pg.drop;
    conn = pg.connection;
    pgUrl = pg.url;
    rel = await openRelational({ provider: 'postgres', logging: false, ...conn });
    const docs = new DocumentsRepository(rel);
    for (let i = 0; i < DOCS; i++) {
      await docs.save({ userId: `user-${i % 3}`, externalId: `doc-${i}`, title: i % 5 ? `Title ${i}` : null, content: text(i) });
      expectedChunks += (await chunk(text(i))).length;
    }
    await Promise.all([small.init(), wide.init()]);
  });

  afterAll(async () => {
    for (const o of open.reverse()) await o.close().catch(() => undefined);
    await small.close();
    await wide.close();
    await rel?.close();
    await drop?.();
    dir.remove();
  });

  it('indexes every document with the 32-dimensional model, as the knowledge service would', async () => {
    const v32 = await target(32, small.model);
    const svc = reindexer(v32, small);
    const job = await succeeded(svc, svc.start({ kind: 'REINDEX' }));
    expect(job.verification).toMatchObject({ ok: true, tables: [{ name: 'vector_embeddings', sourceCount: expectedChunks, targetCount: expectedChunks, checksumMatch: true }] });
    expect(job.verification!.recallAt10).toBeGreaterThanOrEqual(0.9);
    expect(await v32.describe()).toMatchObject({ storedDimensions: 32, storedModel: small.model, count: expectedChunks });
    const doc = await rel.repository(DocumentEntity).findOneByOrFail({ externalId: 'doc-7' });
    expect(doc).toMatchObject({ embeddingModel: small.model, chunkCount: (await chunk(text(7))).length });
    expect(doc.indexedAt).toBeInstanceOf(Date);
    const hits = await v32.query((await small.embed([(await chunk(text(7)))[0]]))[0], { userId: doc.userId, k: 1 });
    expect(hits[0]).toMatchObject({ id: chunkId(doc.userId, 'doc-7', 0), documentId: 'doc-7', chunkIndex: 0, metadata: { title: 'Title 7' } });
  });

  it('a second re-index is incremental: only documents whose stored chunks differ are embedded again, the HNSW index stays; full embeds all', async () => {
    const v32 = await target(32, small.model);
    const svc = reindexer(v32, small);
    const hnsw = async (): Promise<number[]> => {
      const c = new Client({ connectionString: pgUrl });
      await c.connect();
      try {
        return (await c.query(`SELECT c.oid::int AS oid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'hnsw'`)).rows.map((r) => r.oid as number);
      } finally {
        await c.end();
      }
    };
    const indexBefore = await hnsw();
    expect(indexBefore).toHaveLength(1);
    const docs = new DocumentsRepository(rel);
    const calls: number[] = [];
    const embed = small.embed.bind(small);
    small.embed = async (texts: string[]) => (calls.push(texts.length), embed(texts));
    try {
      const again = await succeeded(svc, svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE' }));
      expect(again.backups).toEqual([]); // nothing was written, so nothing needed backing up
      expect(again.progress!.steps[0]).toMatchObject({ read: DOCS, unchanged: DOCS, written: 0 });
      expect(calls.reduce((a, b) => a + b, 0)).toBe(20); // the verification's self-retrieval sample only
      expect(again.verification).toMatchObject({ ok: true, tables: [{ sourceCount: expectedChunks, targetCount: expectedChunks, checksumMatch: true }] });
      expect(await hnsw()).toEqual(indexBefore); // not dropped and rebuilt

      // What makes a document change: its text, its title (stored with each chunk), a chunk in the store
      // that is not what the chunker makes of it, a chunk missing.
      const d1 = await docs.findOne('user-1', 'doc-1');
      await docs.save({ userId: 'user-1', externalId: 'doc-1', title: d1!.title, content: text(1) + '\n\nOne more paragraph about replica latency.' });
      const d2 = await docs.findOne('user-2', 'doc-2');
      await docs.save({ userId: 'user-2', externalId: 'doc-2', title: 'A new title', content: d2!.content });
      const [c4] = await v32.records([chunkId('user-1', 'doc-4', 0)]);
      await v32.upsert([{ ...c4, content: c4.content + ' (edited in the store)' }]);
      await v32.deleteIds([chunkId('user-2', 'doc-5', 1)]);
      const changed = [1, 2, 4, 5];
      const changedChunks = (await Promise.all(changed.map(async (i) => (await chunk((await docs.findOne(`user-${i % 3}`, `doc-${i}`))!.content)).length))).reduce((a, b) => a + b, 0);
      expectedChunks += changedChunks - (await Promise.all(changed.map(async (i) => (await chunk(text(i))).length))).reduce((a, b) => a + b, 0);
      calls.length = 0;
      const some = await succeeded(svc, svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE' }));
      expect(some.backups).toMatchObject([{ kind: 'file', rows: expectedChunks - changedChunks + (await chunk(text(1))).length + (await chunk(text(2))).length + (await chunk(text(4))).length + (await chunk(text(5))).length - 1 }]);
      expect(some.progress!.steps[0]).toMatchObject({ read: DOCS, unchanged: DOCS - changed.length, written: changedChunks });
      expect(calls.reduce((a, b) => a + b, 0)).toBe(changedChunks + 20);
      expect(some.verification).toMatchObject({ ok: true, tables: [{ sourceCount: expectedChunks, targetCount: expectedChunks, checksumMatch: true }] });
      const [c4now] = await v32.records([chunkId('user-1', 'doc-4', 0)]);
      expect(c4now.content).toBe((await chunk(text(4)))[0]);
      expect((await v32.records([chunkId('user-2', 'doc-2', 0)]))[0].metadata).toEqual({ title: 'A new title' });

      calls.length = 0;
      const full = await succeeded(svc, svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE', full: true }));
      expect(full.progress!.steps[0]).toMatchObject({ read: DOCS, written: expectedChunks });
      expect(full.progress!.steps[0].unchanged ?? 0).toBe(0);
      expect(calls.reduce((a, b) => a + b, 0)).toBe(expectedChunks + 20);
      expect(full.verification?.ok).toBe(true);
      await expect(svc.start({ kind: 'RELATIONAL', full: true })).rejects.toMatchObject({ code: 'BAD_INPUT', field: 'full' });
    } finally {
      small.embed = embed;
    }
  });

  it('after switching to the 48-dimensional model: FAIL refuses before any write, TRUNCATE re-indexes after a backup', async () => {
    const v48 = await target(48, wide.model);
    expect(v48.mismatch()).toMatch(/stores 32-dimensional vectors but VECTOR_DB_DIMENSIONS=48/);
    const svc = reindexer(v48, wide);

    const refused = await svc.start({ kind: 'REINDEX' }).catch((e) => e);
    expect(refused).toMatchObject({ code: 'DIMENSION_MISMATCH', message: expect.stringMatching(/stores 32-dimensional vectors.*onConflict TRUNCATE/s) });
    expect(await v48.count()).toBe(expectedChunks);
    expect(await v48.describe()).toMatchObject({ storedDimensions: 32, storedModel: small.model });

    const planned = await succeeded(svc, svc.start({ kind: 'REINDEX', onConflict: 'TRUNCATE', dryRun: true }));
    expect(planned.plan).toMatchObject({
      refusal: null,
      source: { embeddings: { model: wide.model, dimensions: 48 } },
      target: { vector: { dimensions: 32, model: small.model } },
      steps: [{ kind: 'documents', sourceCount: DOCS, targetCount: expectedChunks, chunks: expectedChunks }],
    });
    expect(planned.plan!.estimatedSeconds).toBeGreaterThan(0);
    expect(await v48.describe()).toMatchObject({ storedDimensions: 32 });

    const t0 = Date.now();
    const job = await succeeded(svc, svc.run(planned.id));
    console.log(`re-index: ${DOCS} documents / ${expectedChunks} chunks with the 48-d model in ${Date.now() - t0} ms (rate ${job.progress!.ratePerSecond} docs/s)`);
    expect(job.verification).toMatchObject({ ok: true, tables: [{ sourceCount: expectedChunks, targetCount: expectedChunks, checksumMatch: true }] });
    expect(job.verification!.recallAt10).toBeGreaterThanOrEqual(0.9);
    expect(await v48.describe()).toMatchObject({ storedDimensions: 48, storedModel: wide.model, count: expectedChunks, mismatch: null });
    expect((await rel.repository(DocumentEntity).findOneByOrFail({ externalId: 'doc-3' })).embeddingModel).toBe(wide.model);

    const backup = job.backups[0];
    expect(backup).toMatchObject({ kind: 'file', rows: expectedChunks });
    const file = path.join(dataDir, backup.name);
    expect(existsSync(file)).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8').split('\n')[0])).toMatchObject({ kind: 'VECTORS', dimensions: 32, metric: 'cosine', model: small.model });
  });

  it('verification checks the stored embeddings themselves: vectors that are not what the model makes of their text fail it', async () => {
    const v48 = await target(48, wide.model);
    const svc = reindexer(v48, wide);
    const job = await succeeded(svc, svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE' }));
    expect(job.verification?.ok).toBe(true);
    // nudge every stored vector a little (cosine ~0.98): ids, texts and metadata unchanged, and each chunk
    // would still be found for its own text, so only a check of the embeddings can tell
    const next = rng(99);
    const nudged = [];
    for await (const page of v48.scan(500)) {
      for (const r of page) nudged.push({ ...r, embedding: Float32Array.from(r.embedding, (x) => x + (next() - 0.5) * 0.04) });
    }
    await v48.upsert(nudged);
    const after = await svc.verify(job.id);
    expect(after.ok).toBe(false);
    expect(after.tables[0].targetCount).toBe(after.tables[0].sourceCount); // every chunk is there
    expect(after.notes.join(' ')).toMatch(/sampled chunks have a stored embedding that is not what .* makes of their text/);
  });
});
