import * as path from 'node:path';
import { XenovaEmbeddings } from '@switchyard/embeddings';
import { chunkId, createChunker, KnowledgeService } from '@switchyard/knowledge';
import { createLlm } from '@switchyard/llm';
import { DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { VectorDb, VectorRecord } from '@switchyard/vector-db';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { openRelational, openVector, service } from './testing/fixtures';

const DOCS = 150;
const OPTIONS = { chunkSize: 200, chunkOverlap: 30, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3 };
const text = (i: number, v: number) => Array.from({ length: 1 + ((i + v) % 5) }, (_, p) => `Document ${i} version ${v} paragraph ${p}: the pilot flew the airplane over the mountains at dawn.`).join('\n\n');

/**
 * A REINDEX job runs while the app keeps re-indexing and deleting documents (the same model, the same
 * database): every document must end with exactly the chunks of its latest text, and no deleted document
 * may get its chunks back. PostgreSQL + pgvector, the app through KnowledgeService.
 */
describe('REINDEX while the app writes (real PostgreSQL + pgvector)', () => {
  const dir = freshDir('sy-reidx-live-');
  const chunk = createChunker(OPTIONS);
  const embeddings = new XenovaEmbeddings({ model: 'ignored', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), batchSize: 32 });
  let drop: () => Promise<void>;
  let rel: RelationalDb;
  let appRel: RelationalDb;
  let vec: VectorDb;
  let appVec: VectorDb;
  let app: KnowledgeService;

  beforeAll(async () => {
    const pg = await freshPostgres('reidxlive');
    drop = pg.drop;
    await embeddings.init();
    rel = await openRelational({ provider: 'postgres', logging: false, ...pg.connection });
    appRel = await openRelational({ provider: 'postgres', logging: false, ...pg.connection });
    const vectors = { provider: 'pgvector' as const, connection: pg.connection, dimensions: 32, collection: 'vector_embeddings' };
    vec = await openVector(vectors, embeddings.model);
    appVec = await openVector(vectors, embeddings.model);
    const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
    app = new KnowledgeService(new DocumentsRepository(appRel), new UsersRepository(appRel), appVec, embeddings, llm, OPTIONS, new VectorFreezeRepository(appRel));
    for (let i = 0; i < DOCS; i++) await app.indexDocument(`user-${i % 3}`, { documentId: `doc-${i}`, content: text(i, 0) });
  });

  afterAll(async () => {
    for (const c of [vec, appVec, rel, appRel]) await c?.close().catch(() => undefined);
    await embeddings.close();
    await drop?.();
    dir.remove();
  });

  it('every document ends with the chunks of its latest text; deleted ones stay deleted', async () => {
    const svc = service({ target: { relational: rel, vector: vec }, embeddings, profiles: {}, dataDir: path.join(dir.dir, 'data'), chunk, defaultBatchSize: 10 });
    const latest = new Map<string, string | null>(Array.from({ length: DOCS }, (_, i) => [`doc-${i}`, text(i, 0)]));
    const started = await svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE', throttleMs: 80, full: true }); // every document embedded again (the app indexed them all with this model); slowed so the app writes throughout
    // The app writes until the job's copy is done (its verification then sees a quiet store).
    let copying = true;
    // (stops at 60 % of the documents: writes during the verification would rightly fail it)
    const off = svc.subscribe(started.id, (j) => {
      if (j.progress?.phase === 'verify' || j.status !== 'RUNNING' || (j.progress?.done ?? 0) >= DOCS * 0.6) copying = false;
    });
    let writes = 0;
    const writer = (async () => {
      for (let v = 1; copying; v++) {
        const i = (v * 37) % DOCS;
        const userId = `user-${i % 3}`;
        if (v % 7 === 0) {
          await app.deleteDocument(userId, `doc-${i}`);
          latest.set(`doc-${i}`, null);
        } else {
          await app.indexDocument(userId, { documentId: `doc-${i}`, content: text(i, v) });
          latest.set(`doc-${i}`, text(i, v));
        }
        writes++;
      }
    })();
    const job = await svc.waitFor(started.id);
    copying = false;
    await writer;
    off();
    await svc.close();
    expect(writes).toBeGreaterThan(20);
    expect([job.status, job.errorCode, job.error]).toEqual(['SUCCEEDED', null, null]);

    const stored = new Map<string, VectorRecord[]>();
    for await (const page of vec.scan(500)) for (const r of page) stored.set(r.documentId, [...(stored.get(r.documentId) ?? []), r]);
    const problems: string[] = [];
    for (const [documentId, content] of latest) {
      const i = Number(documentId.slice(4));
      const have = (stored.get(documentId) ?? []).sort((a, b) => a.chunkIndex - b.chunkIndex);
      if (content === null) {
        if (have.length) problems.push(`${documentId}: deleted, but ${have.length} chunk(s) came back`);
        continue;
      }
      const want = await chunk(content);
      if (have.length !== want.length || have.some((r, j) => r.content !== want[j] || r.id !== chunkId(`user-${i % 3}`, documentId, j))) {
        problems.push(`${documentId}: ${have.length} chunk(s), of "${have[0]?.content.slice(0, 30)}", but the latest text has ${want.length}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('does not write a store a live migration froze: refused before it starts, failed with MAINTENANCE when the freeze comes mid-run', async () => {
    const freezes = new VectorFreezeRepository(rel);
    const store = await vec.identity();
    const svc = service({ target: { relational: rel, vector: vec }, embeddings, profiles: {}, dataDir: path.join(dir.dir, 'data-frozen'), chunk, defaultBatchSize: 10 });
    try {
      await freezes.freeze(store, 'live-job-1');
      await expect(svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE' })).rejects.toMatchObject({ code: 'MAINTENANCE', message: expect.stringMatching(/frozen by the live migration live-job-1/) });
      await freezes.unfreeze(store, 'live-job-1');

      const started = await svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE', throttleMs: 20, full: true }); // every document embedded again (the app indexed them all with this model)
      let froze = false;
      const off = svc.subscribe(started.id, (j) => {
        if (!froze && (j.progress?.done ?? 0) >= 30) {
          froze = true;
          void freezes.freeze(store, 'live-job-2');
        }
      });
      const job = await svc.waitFor(started.id);
      off();
      expect(froze).toBe(true);
      expect([job.status, job.errorCode]).toEqual(['FAILED', 'MAINTENANCE']);
    } finally {
      await freezes.unfreeze(store);
      await svc.close();
    }
  });
});
