import * as path from 'node:path';
import { PostgresConnection, VectorDbConfig } from '@switchyard/core';
import { XenovaEmbeddings } from '@switchyard/embeddings';
import { chunkId, createChunker } from '@switchyard/knowledge';
import { DocumentEntity, DocumentsRepository, RelationalDb } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { existsSync, readFileSync } from 'node:fs';
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
