import { HashEmbeddings } from '../../embeddings/src/testing/hash-embeddings';
import { createHash } from 'node:crypto';
import { KnowledgeService } from '@switchyard/knowledge';
import { createLlm } from '@switchyard/llm';
import { createVectorDb, VectorDb } from '@switchyard/vector-db';
import { Client } from 'pg';
import { freshPostgres } from '../../../test/support/services';
import { createRelationalDb, DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from './index';


const OPTIONS = { chunkSize: 120, chunkOverlap: 20, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3 };

describe('review: document locks on PostgreSQL under load (real PostgreSQL + pgvector)', () => {
  let drop: () => Promise<void>;
  let rel: RelationalDb;
  let vec: VectorDb;
  let conn: Awaited<ReturnType<typeof freshPostgres>>['connection'];

  beforeAll(async () => {
    const pg = await freshPostgres('revlocks');
    drop = pg.drop;
    conn = pg.connection;
    rel = createRelationalDb({ provider: 'postgres', logging: false, ...pg.connection });
    await rel.init();
    vec = createVectorDb({ provider: 'pgvector', connection: pg.connection, dimensions: 32, collection: 'vector_embeddings' }, 'test-hash');
    await vec.init();
  });

  afterAll(async () => {
    await vec?.close();
    await rel?.close();
    await drop?.();
  });

  it('50 parallel indexDocument calls on 50 different documents all succeed, quickly', async () => {
    const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
    const svc = new KnowledgeService(new DocumentsRepository(rel), new UsersRepository(rel), vec, new HashEmbeddings(), llm, OPTIONS, new VectorFreezeRepository(rel));
    const t0 = Date.now();
    const text = (i: number) => Array.from({ length: 1 + (i % 4) }, (_, p) => `Document ${i} paragraph ${p}: the pilot flew the airplane over the mountains.`).join('\n\n');
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => svc.indexDocument(`user-${i % 5}`, { documentId: `doc-${i}`, content: text(i) })));
    const ms = Date.now() - t0;
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
    console.log(`50 parallel indexDocument: ${50 - failed.length} ok, ${failed.length} failed in ${ms} ms ${failed.slice(0, 2).join(' | ')}`);
    expect(failed).toEqual([]);
    const chunks = results.reduce((n, r) => n + (r.status === 'fulfilled' ? r.value.chunks : 0), 0);
    expect(await vec.count()).toBe(chunks);
    expect(ms).toBeLessThan(15_000);
  });

  it('a document whose lock another instance holds does not hold up writes of other documents in this process', async () => {
    // Another app instance (another process: a session of its own) holds the locks of 5 documents for 3 s,
    // the way withLock takes them: pg_advisory_xact_lock(first 8 bytes of sha256('switchyard-lock:' + name)).
    const b = new Client({ host: conn.host, port: conn.port, database: conn.database, user: conn.username, password: conn.password });
    await b.connect();
    await b.query('BEGIN');
    for (let i = 0; i < 5; i++) {
      const key = createHash('sha256').update(`switchyard-lock:document:${JSON.stringify(['u', `busy-${i}`])}`).digest().readBigInt64BE(0).toString();
      await b.query('SELECT pg_advisory_xact_lock($1::bigint)', [key]);
    }
    const releaseB = () => b.query('COMMIT').catch(() => undefined);
    const timer = setTimeout(releaseB, 3000);
    try {
      await new Promise((r) => setTimeout(r, 200));
      const repoA = new DocumentsRepository(rel);
      // This process: one write of each busy document (each waits for instance B), then one of a free document.
      const busy = Array.from({ length: 5 }, (_, i) => repoA.withDocumentLock('u', `busy-${i}`, async () => undefined));
      await new Promise((r) => setTimeout(r, 100));
      const t0 = Date.now();
      await repoA.withDocumentLock('u', 'free-doc', async () => undefined);
      const ms = Date.now() - t0;
      console.log(`a free document's lock was taken after ${ms} ms (5 other documents wait for another instance)`);
      await Promise.all(busy);
      expect(ms).toBeLessThan(1000);
    } finally {
      clearTimeout(timer);
      await releaseB();
      await b.end();
    }
  });
});
