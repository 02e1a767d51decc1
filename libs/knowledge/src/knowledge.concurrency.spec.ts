import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createEmbeddings, Embeddings } from '@switchyard/embeddings';
import { createLlm } from '@switchyard/llm';
import { createRelationalDb, DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { createVectorDb, VectorDb, VectorRecord } from '@switchyard/vector-db';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { createChunker } from './chunking';
import { chunkId, KnowledgeService } from './knowledge.service';

const OPTIONS = { chunkSize: 120, chunkOverlap: 20, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3 };
const ROUNDS = 20;
const PARALLEL = 16;

type Stack = 'sqlite+sqlite-vec' | 'postgres+pgvector' | 'postgres+chromadb';

/** A document version: 1 to 5 paragraphs, each naming the version, so every chunk says which version it is of. */
const version = (tag: string, paragraphs: number) => Array.from({ length: paragraphs }, (_, p) => `Version ${tag}, paragraph ${p}: the doctor examined the patient at the hospital.`).join('\n\n');

/**
 * Two app instances (each with its own connections, as two replicas have) write one document at once:
 * 16 parallel index / re-index / delete calls, 20 rounds, on each vector driver. Whatever order they run
 * in, the document must end as exactly one version: its row and its chunks agree, no chunk of another
 * version and no chunk past its count; or, deleted, no row and no chunk.
 */
describe.each<Stack>(['sqlite+sqlite-vec', 'postgres+pgvector', 'postgres+chromadb'])('KnowledgeService: concurrent writes of one document (%s)', (stack) => {
  const dir = freshDir('sy-kn-race-');
  let embeddings: Embeddings;
  let drop: () => Promise<void> = async () => undefined;
  const instances: { relational: RelationalDb; vectors: VectorDb; service: KnowledgeService }[] = [];
  const chunk = createChunker(OPTIONS);

  beforeAll(async () => {
    embeddings = createEmbeddings({ provider: 'xenova', model: 'x', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), allowRemote: false, batchSize: 16, chunkSize: 120, chunkOverlap: 20 });
    await embeddings.init();
    let relational: RelationalDbConfig;
    let vector: VectorDbConfig;
    const collection = `race_${Math.random().toString(36).slice(2, 8)}`;
    if (stack === 'sqlite+sqlite-vec') {
      relational = { provider: 'sqlite', database: dir.file('k.sqlite'), logging: false };
      vector = { provider: 'sqlite-vec', path: dir.file('k.sqlite'), dimensions: 32, collection };
    } else {
      const pg = await freshPostgres('race');
      drop = pg.drop;
      relational = { provider: 'postgres', logging: false, ...pg.connection };
      vector = stack === 'postgres+pgvector' ? { provider: 'pgvector', connection: pg.connection, dimensions: 32, collection } : { provider: 'chromadb', url: serviceEnv('TEST_CHROMA_URL'), dimensions: 32, collection };
    }
    for (let i = 0; i < 2; i++) {
      const rel = createRelationalDb(relational);
      await rel.init();
      const vec = createVectorDb(vector, embeddings.model);
      await vec.init();
      const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
      instances.push({ relational: rel, vectors: vec, service: new KnowledgeService(new DocumentsRepository(rel), new UsersRepository(rel), vec, embeddings, llm, OPTIONS, new VectorFreezeRepository(rel)) });
    }
  });

  afterAll(async () => {
    for (const i of instances) {
      await i.vectors.reset().catch(() => undefined);
      await i.vectors.close();
      await i.relational.close();
    }
    await embeddings?.close();
    await drop();
    dir.remove();
  });

  async function chunksOf(userId: string, documentId: string): Promise<VectorRecord[]> {
    const out: VectorRecord[] = [];
    for await (const page of instances[0].vectors.scan(500)) out.push(...page.filter((r) => r.userId === userId && r.documentId === documentId));
    return out;
  }

  it(`${PARALLEL} parallel index/delete calls, ${ROUNDS} rounds: exactly one version's chunks remain, and it is the one the row holds`, async () => {
    const problems: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const ops = Array.from({ length: PARALLEL }, (_, i) => {
        const svc = instances[i % 2].service;
        if (i % 5 === 4) return svc.deleteDocument('u', 'doc');
        return svc.indexDocument('u', { documentId: 'doc', content: version(`${round}.${i}`, 1 + ((i * 7 + round) % 5)) });
      });
      const settled = await Promise.allSettled(ops);
      for (const s of settled) if (s.status === 'rejected') problems.push(`round ${round}: a call failed: ${String(s.reason)}`);
      const row = await instances[0].service.getDocument('u', 'doc');
      const chunks = await chunksOf('u', 'doc');
      if (!row) {
        if (chunks.length) problems.push(`round ${round}: deleted, but ${chunks.length} chunk(s) remain`);
        continue;
      }
      const expected = await chunk(row.content);
      const ids = chunks.map((c) => c.id).sort();
      const want = expected.map((_, j) => chunkId('u', 'doc', j)).sort();
      if (row.chunkCount !== expected.length) problems.push(`round ${round}: the row says ${row.chunkCount} chunks, its content has ${expected.length}`);
      if (JSON.stringify(ids) !== JSON.stringify(want)) problems.push(`round ${round}: chunk ids ${ids.length} vs the row's version ${want.length}`);
      const wrong = chunks.filter((c) => c.content !== expected[c.chunkIndex]);
      if (wrong.length) problems.push(`round ${round}: ${wrong.length} chunk(s) of another version than the row's (e.g. ${JSON.stringify(wrong[0].content.slice(0, 40))})`);
    }
    expect(problems).toEqual([]);
  });
});
