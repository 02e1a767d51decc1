import { createLlm } from '@switchyard/llm';
import { createRelationalDb, DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { createVectorDb, VectorDb } from '@switchyard/vector-db';
import { Client } from 'pg';
import { HashEmbeddings } from '../../embeddings/src/testing/hash-embeddings';
import { freshPostgres, serviceEnv } from '../../../test/support/services';
import { createChunker } from './chunking';
import { KnowledgeService } from './knowledge.service';

const OPTIONS = { chunkSize: 120, chunkOverlap: 20, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3 };
const text = (tag: string, paragraphs: number) => Array.from({ length: paragraphs }, (_, p) => `Version ${tag}, paragraph ${p}: the pilot flew the airplane over the mountains.`).join('\n\n');

/**
 * Faults made by the real server, a trigger on the documents table: the text's final save (after the
 * chunks) fails for content with "FAIL" and waits 300 ms for content with "SLOW"; recording the
 * indexing (the last statement of a write) fails for content with "NEWFAIL".
 */
async function installFaults(sql: Client): Promise<void> {
  await sql.query(`CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.content LIKE '%FAIL%' AND NEW.content IS DISTINCT FROM OLD.content THEN RAISE EXCEPTION 'injected fault after the chunks'; END IF;
      IF NEW.content LIKE '%SLOW%' AND NEW.content IS DISTINCT FROM OLD.content THEN PERFORM pg_sleep(0.3); END IF;
      IF NEW.content LIKE '%NEWFAIL%' AND NEW.indexed_at IS DISTINCT FROM OLD.indexed_at THEN RAISE EXCEPTION 'injected fault when recording the indexing'; END IF;
      RETURN NEW;
    END $$`);
  await sql.query('CREATE TRIGGER test_fault BEFORE UPDATE ON switchyard_documents FOR EACH ROW EXECUTE FUNCTION test_fault()');
}

/**
 * PostgreSQL + pgvector in one database: a document's row and its chunks change in one transaction.
 * Faults are made by the real server: a trigger on the documents table fails (or holds) the write
 * after its chunks are stored, and a second connection looks at what is committed meanwhile.
 */
describe('KnowledgeService on PostgreSQL + pgvector: one transaction per document write (real PostgreSQL)', () => {
  let drop: () => Promise<void>;
  let rel: RelationalDb;
  let vec: VectorDb;
  let sql: Client;
  let svc: KnowledgeService;
  let conn: Awaited<ReturnType<typeof freshPostgres>>['connection'];
  const chunk = createChunker(OPTIONS);
  const documents = 'switchyard_documents';

  beforeAll(async () => {
    const pg = await freshPostgres('atomic');
    drop = pg.drop;
    conn = pg.connection;
    rel = createRelationalDb({ provider: 'postgres', logging: false, ...pg.connection });
    await rel.init();
    vec = createVectorDb({ provider: 'pgvector', connection: pg.connection, dimensions: 32, collection: 'atomic_chunks' }, 'test-hash');
    await vec.init();
    sql = new Client(pg.url);
    await sql.connect();
    const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
    svc = new KnowledgeService(new DocumentsRepository(rel), new UsersRepository(rel), vec, new HashEmbeddings(), llm, OPTIONS, new VectorFreezeRepository(rel));
    await installFaults(sql);
  });

  afterAll(async () => {
    await sql?.end();
    await vec?.close();
    await rel?.close();
    await drop?.();
  });

  /** What another connection sees committed: the row's text and the document's chunk texts, in one snapshot. */
  async function committed(userId: string, documentId: string): Promise<{ content: string | null; chunkCount: number | null; chunks: string[] }> {
    await sql.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    try {
      const { rows } = await sql.query(`SELECT content, chunk_count FROM ${documents} WHERE user_id = $1 AND external_id = $2`, [userId, documentId]);
      const chunks = await sql.query('SELECT content FROM atomic_chunks WHERE user_id = $1 AND document_id = $2 ORDER BY chunk_index', [userId, documentId]);
      return { content: rows[0]?.content ?? null, chunkCount: rows[0]?.chunk_count ?? null, chunks: chunks.rows.map((r) => r.content as string) };
    } finally {
      await sql.query('COMMIT');
    }
  }

  it('a write that fails after storing its chunks leaves the previous version whole: row and chunks', async () => {
    const v1 = text('one', 4);
    await svc.indexDocument('u', { documentId: 'd1', content: v1 });
    await expect(svc.indexDocument('u', { documentId: 'd1', content: text('two FAIL', 2) })).rejects.toThrow(/injected fault/);
    const seen = await committed('u', 'd1');
    expect(seen.content).toBe(v1);
    expect(seen.chunks).toEqual(await chunk(v1));
    expect(seen.chunkCount).toBe(seen.chunks.length);
  });

  it('a new document whose write fails leaves neither row nor chunk', async () => {
    await expect(svc.indexDocument('u', { documentId: 'd2', content: text('new NEWFAIL', 3) })).rejects.toThrow(/injected fault when recording/);
    expect(await committed('u', 'd2')).toEqual({ content: null, chunkCount: null, chunks: [] });
  });

  it('while a write is under way, other connections see the old version whole, then the new one whole', async () => {
    const v1 = text('first', 5);
    await svc.indexDocument('u', { documentId: 'd3', content: v1 });
    const v2 = text('second SLOW', 2);
    let done = false;
    const write = svc.indexDocument('u', { documentId: 'd3', content: v2 }).finally(() => (done = true));
    const [c1, c2] = [await chunk(v1), await chunk(v2)];
    const mixed: string[] = [];
    let looks = 0;
    while (!done) {
      const seen = await committed('u', 'd3');
      looks++;
      const whole = (seen.content === v1 && JSON.stringify(seen.chunks) === JSON.stringify(c1)) || (seen.content === v2 && JSON.stringify(seen.chunks) === JSON.stringify(c2));
      if (!whole) mixed.push(`row ${JSON.stringify(seen.content?.slice(0, 14))} with ${seen.chunks.length} chunks: ${JSON.stringify(seen.chunks.map((c) => c.slice(0, 14)))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await write;
    expect(looks).toBeGreaterThan(3); // it did look while the write held its transaction open
    expect(mixed).toEqual([]);
    const after = await committed('u', 'd3');
    expect(after.content).toBe(v2);
    expect(after.chunks).toEqual(c2);
  });

  it('delete removes the row and the chunks together', async () => {
    await svc.indexDocument('u', { documentId: 'd4', content: text('gone', 3) });
    expect(await svc.deleteDocument('u', 'd4')).toBe(true);
    expect(await committed('u', 'd4')).toEqual({ content: null, chunkCount: null, chunks: [] });
  });

  it('a vector freeze waits for a write in flight; the writes after it are refused with MAINTENANCE', async () => {
    const store = await vec.identity();
    const freezes = new VectorFreezeRepository(rel);
    await svc.indexDocument('u', { documentId: 'd5', content: text('before', 2) });
    const v2 = text('in flight SLOW', 3);
    const write = svc.indexDocument('u', { documentId: 'd5', content: v2 });
    await new Promise((r) => setTimeout(r, 100)); // the write passed its freeze check and sleeps in its last save
    await freezes.freeze(store, 'job-x');
    // Read by another connection the moment the freeze is in: the write in flight has committed already,
    // so what a migration's last delta reads next includes it.
    const atFreeze = await committed('u', 'd5');
    await write;
    try {
      expect(atFreeze.content).toBe(v2);
      await expect(svc.indexDocument('u', { documentId: 'd5', content: text('after', 1) })).rejects.toMatchObject({ code: 'MAINTENANCE' });
      await expect(svc.deleteDocument('u', 'd5')).rejects.toMatchObject({ code: 'MAINTENANCE' });
      expect((await committed('u', 'd5')).content).toBe(v2);
    } finally {
      await freezes.unfreeze(store, 'job-x');
    }
  });

  it('a statement that times out inside the write leaves no connection in its transaction: the next write of the document goes through', async () => {
    const timed = createRelationalDb({ provider: 'postgres', logging: false, ...conn, timeoutMs: 300 });
    await timed.init();
    try {
      const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
      const fast = new KnowledgeService(new DocumentsRepository(timed), new UsersRepository(timed), vec, new HashEmbeddings(), llm, OPTIONS, new VectorFreezeRepository(timed));
      await fast.indexDocument('u', { documentId: 'd6', content: text('one', 2) });
      // another session holds the chunks table in SHARE mode: the write's upsert waits past the 300 ms limit
      await sql.query('BEGIN');
      await sql.query('LOCK TABLE atomic_chunks IN SHARE MODE');
      const failed = await fast.indexDocument('u', { documentId: 'd6', content: text('two', 3) }).then(() => null, (e: unknown) => e);
      await new Promise((r) => setTimeout(r, 1200));
      await sql.query('COMMIT');
      expect(failed).toMatchObject({ code: 'PROVIDER_UNAVAILABLE' });
      await new Promise((r) => setTimeout(r, 300));
      const { rows } = await sql.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'");
      expect(rows[0].n).toBe(0);
      const t0 = Date.now();
      await expect(fast.indexDocument('u', { documentId: 'd6', content: text('three', 1) })).resolves.toMatchObject({ chunks: 1 });
      expect(Date.now() - t0).toBeLessThan(5000); // not the 30 s a lock left held would cost
      expect((await committed('u', 'd6')).chunks).toEqual(await chunk(text('three', 1)));
    } finally {
      await timed.close();
    }
  }, 60_000);
});

/**
 * PostgreSQL + Chroma: the chunks cannot share the row's transaction. The row's statements then commit
 * one by one, so a write that fails after storing its chunks leaves a chunk count that covers them, and
 * the next write removes what the failed one left.
 */
describe('KnowledgeService on PostgreSQL + Chroma: no shared transaction, the chunk count still covers a failed write (real servers)', () => {
  let drop: () => Promise<void>;
  let rel: RelationalDb;
  let vec: VectorDb;
  let sql: Client;
  let svc: KnowledgeService;
  const chunk = createChunker(OPTIONS);

  beforeAll(async () => {
    const pg = await freshPostgres('nojoin');
    drop = pg.drop;
    rel = createRelationalDb({ provider: 'postgres', logging: false, ...pg.connection });
    await rel.init();
    vec = createVectorDb({ provider: 'chromadb', url: serviceEnv('TEST_CHROMA_URL'), dimensions: 32, collection: `nojoin_${Math.random().toString(36).slice(2, 8)}` }, 'test-hash');
    await vec.init();
    sql = new Client(pg.url);
    await sql.connect();
    const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
    svc = new KnowledgeService(new DocumentsRepository(rel), new UsersRepository(rel), vec, new HashEmbeddings(), llm, OPTIONS, new VectorFreezeRepository(rel));
    await installFaults(sql);
  });

  afterAll(async () => {
    await sql?.end();
    await vec?.reset().catch(() => undefined);
    await vec?.close();
    await rel?.close();
    await drop?.();
  });

  it('2 chunks, then a failed write of 5, then a write of 1: exactly that 1 chunk remains', async () => {
    await svc.indexDocument('u', { documentId: 'd1', content: text('two', 2) });
    await expect(svc.indexDocument('u', { documentId: 'd1', content: text('five FAIL', 5) })).rejects.toThrow(/injected fault/);
    const row = await svc.getDocument('u', 'd1');
    expect(row!.chunkCount).toBeGreaterThanOrEqual(5); // raised before the chunks, and kept
    await svc.indexDocument('u', { documentId: 'd1', content: text('one', 1) });
    const left = await vec.documentRecords('u', 'd1');
    expect(left.map((r) => r.content)).toEqual(await chunk(text('one', 1)));
  });
});
