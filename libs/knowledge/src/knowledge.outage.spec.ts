import { SwitchyardError } from '@switchyard/core';
import { createLlm } from '@switchyard/llm';
import { createRelationalDb, DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { createVectorDb, VectorDb } from '@switchyard/vector-db';
import { HashEmbeddings } from '../../embeddings/src/testing/hash-embeddings';
import { freshPostgres } from '../../../test/support/services';
import { startStallProxy, StallProxy } from '../../../test/support/stall-proxy';
import { KnowledgeService } from './knowledge.service';

const OPTIONS = { chunkSize: 120, chunkOverlap: 20, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3 };

/**
 * A host app calls the KnowledgeService directly (no GraphQL edge): a PostgreSQL that stops answering
 * (a stalling TCP proxy in front of the real server) must still come out as PROVIDER_UNAVAILABLE naming
 * the engine, within RELATIONAL_DB_TIMEOUT_MS, not as TypeORM's own error.
 */
describe('KnowledgeService when its relational database stops answering (real PostgreSQL behind a stalling proxy)', () => {
  let drop: () => Promise<void>;
  let proxy: StallProxy;
  let rel: RelationalDb;
  let vec: VectorDb;
  let svc: KnowledgeService;

  beforeAll(async () => {
    const pg = await freshPostgres('outage');
    drop = pg.drop;
    proxy = await startStallProxy({ host: pg.connection.host, port: pg.connection.port });
    rel = createRelationalDb({ provider: 'postgres', logging: false, ...pg.connection, port: Number(new URL(proxy.url('postgres')).port), timeoutMs: 1000 });
    await rel.init();
    vec = createVectorDb({ provider: 'pgvector', connection: pg.connection, dimensions: 32, collection: 'outage_chunks' }, 'test-hash');
    await vec.init();
    const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
    svc = new KnowledgeService(new DocumentsRepository(rel), new UsersRepository(rel), vec, new HashEmbeddings(), llm, OPTIONS, new VectorFreezeRepository(rel));
    await svc.indexDocument('u', { documentId: 'd0', content: 'Before the outage.' });
  });

  afterAll(async () => {
    proxy?.resume();
    await vec?.close();
    await rel?.close();
    await proxy?.close();
    await drop?.();
  });

  it('index and delete end PROVIDER_UNAVAILABLE naming postgres; it works again once the server answers', async () => {
    proxy.stall();
    for (const call of [() => svc.indexDocument('u', { documentId: 'd1', content: 'During the outage.' }), () => svc.deleteDocument('u', 'd0'), () => svc.listDocuments('u')]) {
      const t0 = Date.now();
      const e = await call().then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(SwitchyardError);
      expect(e).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', message: expect.stringMatching(/postgres relational database/) });
      expect(Date.now() - t0).toBeLessThan(15_000);
    }
    proxy.resume();
    // the connections that stalled are dropped: a call may still meet one of them, the next gets a fresh one
    let result: unknown = null;
    for (let attempt = 0; attempt < 5 && !result; attempt++) {
      result = await svc.indexDocument('u', { documentId: 'd1', content: 'After the outage.' }).catch((e: unknown) => {
        expect(e).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
        return null;
      });
    }
    expect(result).toMatchObject({ chunks: 1 });
  }, 60_000);
});
