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

  const lockKey = (doc: string) => createHash('sha256').update(`switchyard-lock:document:${JSON.stringify(['u', doc])}`).digest().readBigInt64BE(0).toString();

  it('withDocumentWrites takes a batch of documents all at once or not at all, and writes them in one transaction', async () => {
    const repo = new DocumentsRepository(rel);
    await new UsersRepository(rel).ensure('u');
    for (const d of ['a', 'b', 'c']) await repo.save({ userId: 'u', externalId: d, content: `text of ${d}` });
    // Another instance holds b's lock: the batch must not sit on a's and c's meanwhile.
    const other = new Client({ host: conn.host, port: conn.port, database: conn.database, user: conn.username, password: conn.password });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey('b')]);
      let inside = 0;
      const batch = repo.withDocumentWrites(
        [['u', 'a'], ['u', 'b'], ['u', 'c']],
        async (write) => {
          inside = Date.now();
          for (const d of ['a', 'b', 'c']) await write.documents.beginWrite((await write.documents.findOne('u', d))!.id, 7);
        },
      );
      await new Promise((r) => setTimeout(r, 300));
      expect(inside).toBe(0);
      // a is free while the batch waits for b (tried a few times: the batch's own attempts hold it for an instant)
      let got = false;
      for (let i = 0; i < 5 && !got; i++) {
        got = (await other.query('SELECT pg_try_advisory_xact_lock($1::bigint) AS got', [lockKey('a')])).rows[0].got;
        if (!got) await new Promise((r) => setTimeout(r, 20));
      }
      expect(got).toBe(true);
      const released = Date.now();
      await other.query('COMMIT');
      await batch;
      expect(inside).toBeGreaterThanOrEqual(released);
      for (const d of ['a', 'b', 'c']) expect((await repo.findOne('u', d))!.chunkCount).toBe(7);

      // One transaction: a failure after the first documents' statements takes them all back.
      const failed = await repo
        .withDocumentWrites([['u', 'c'], ['u', 'a']], async (write) => {
          await write.documents.beginWrite((await write.documents.findOne('u', 'a'))!.id, 9);
          await write.documents.beginWrite((await write.documents.findOne('u', 'c'))!.id, 9);
          throw new Error('dies after both');
        })
        .catch((e: Error) => e.message);
      expect(failed).toBe('dies after both');
      for (const d of ['a', 'c']) expect((await repo.findOne('u', d))!.chunkCount).toBe(7);

      // A bounded wait: one lock held elsewhere ends the batch with CONFLICT naming a lock, nothing of it run.
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1::bigint)', [lockKey('c')]);
      let ran = false;
      const t0 = Date.now();
      const refused = await repo.withDocumentWrites([['u', 'a'], ['u', 'c']], async () => void (ran = true), { waitMs: 300 }).catch((e) => e);
      expect(refused).toMatchObject({ code: 'CONFLICT', details: { lock: expect.stringContaining('locks'), waitedMs: 300 } });
      expect(Date.now() - t0).toBeLessThan(5_000);
      expect(ran).toBe(false);
      await other.query('COMMIT');
      // No documents: the section runs (nothing to lock).
      await expect(repo.withDocumentWrites([], async () => 'empty')).resolves.toBe('empty');

      // Overlapping batches in opposite orders, in this process, both finish (one order of locks).
      const hold = (docs: string[]) => repo.withDocumentWrites(docs.map((d) => ['u', d] as [string, string]), () => new Promise((r) => setTimeout(r, 150)));
      await expect(Promise.all([hold(['a', 'b', 'c']), hold(['c', 'b', 'a']), hold(['b', 'a'])])).resolves.toBeDefined();
    } finally {
      await other.end();
    }
  });
});
