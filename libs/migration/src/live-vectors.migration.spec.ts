import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { HashEmbeddings } from '../../embeddings/src/testing/hash-embeddings';
import { KnowledgeService } from '@switchyard/knowledge';
import { DocumentEntity, DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { startWriter } from './testing/writer-process';
import { openRelational, openVector, profile, service } from './testing/fixtures';
import { all, CHUNKS, DOCS, seedCorpus as seed } from './testing/corpus';

const DIMS = 32;
const WRITER = path.join(__dirname, 'testing', 'knowledge-writer.ts');
const OPTIONS = { chunkSize: 200, chunkOverlap: 0, maxDocumentBytes: 1_000_000, maxSearchLimit: 20, minScore: 0, answerContextChunks: 3 };


const pgTarget = async (): Promise<{ config: VectorDbConfig; drop(): Promise<void> }> => {
  const pg = await freshPostgres('lvt');
  return { config: { provider: 'pgvector', connection: pg.connection, dimensions: DIMS, collection: 'chunks' } as VectorDbConfig, drop: pg.drop };
};

/**
 * A live VECTORS migration while another app instance (its own process, the KnowledgeService on the old
 * vector store) indexes, re-indexes and deletes documents: both instances share the relational database,
 * as they do when only the vector provider changes. The job copies 20k chunks, catches up on the
 * documents that changed, freezes the old vector store (the old instance is refused with MAINTENANCE, an
 * instance on the new store writes on), copies the last documents and verifies: CUT_OVER, the target
 * equals the frozen source record for record, and every vector has its document.
 */
// 20k chunks from SQLite; 6k from Chroma (its HTTP writes make seeding the slow part; the FULL_STACK test moves 20k from Chroma).
describe.each<{ name: string; engine: 'sqlite' | 'postgres'; source: 'sqlite-vec' | 'chromadb'; docs: number }>([
  { name: 'SQLite + sqlite-vec -> pgvector', engine: 'sqlite', source: 'sqlite-vec', docs: DOCS },
  { name: 'PostgreSQL + Chroma -> pgvector', engine: 'postgres', source: 'chromadb', docs: 600 },
])('live VECTORS migration, $name, with an app instance writing (real processes, real servers)', ({ engine, source: sourceProvider, docs: docCount }) => {
  const dir = freshDir('sy-livevec-');
  let relConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('shared.sqlite'), logging: false };
  let sourceConfig: VectorDbConfig;
  let targetConfig: VectorDbConfig;
  const drops: (() => Promise<void>)[] = [];
  let rel: RelationalDb;
  let src: VectorDb;
  let tgt: VectorDb;

  beforeAll(async () => {
    if (engine === 'postgres') {
      const pg = await freshPostgres('lvr');
      drops.push(pg.drop);
      relConfig = { provider: 'postgres', logging: false, ...pg.connection };
    }
    sourceConfig =
      sourceProvider === 'chromadb'
        ? { provider: 'chromadb', url: serviceEnv('TEST_CHROMA_URL'), dimensions: DIMS, collection: `live_${randomBytes(4).toString('hex')}` }
        : { provider: 'sqlite-vec', path: dir.file('old-vectors.sqlite'), dimensions: DIMS, collection: 'chunks' };
    const t = await pgTarget();
    drops.push(t.drop);
    targetConfig = t.config;
    rel = await openRelational(relConfig);
    src = await openVector(sourceConfig, 'test-hash');
    tgt = await openVector(targetConfig, 'test-hash');
    await seed(rel, src, docCount);
  });

  afterAll(async () => {
    if (sourceProvider === 'chromadb') await src?.reset().catch(() => undefined);
    await src?.close();
    await tgt?.close();
    await rel?.close();
    for (const d of drops) await d();
    dir.remove();
  });

  it('ends CUT_OVER with the target equal to the frozen source and no orphan; the old instance is refused, the new one writes; unfreeze rolls back', async () => {
    const writer = startWriter(WRITER, [JSON.stringify(relConfig), JSON.stringify(sourceConfig), '11', '5']);
    await writer.started(10, 30_000);
    const svc = service({ target: { relational: rel, vector: tgt }, profiles: { source: profile('source', relConfig, sourceConfig) }, dataDir: path.join(dir.dir, 'data'), defaultBatchSize: 500 });
    const embeddings = new HashEmbeddings();
    const llm = { chat: async () => '' } as never;
    const knowledge = (v: VectorDb) => new KnowledgeService(new DocumentsRepository(rel), new UsersRepository(rel), v, embeddings, llm, OPTIONS, new VectorFreezeRepository(rel));
    const started = await svc.start({ kind: 'VECTORS', live: true, throttleMs: 20 });
    // Until the cutover the new store is being filled: an instance already on it is refused (its write
    // would be replaced by the source's version of the document).
    const targetStore = await tgt.identity();
    for (let waited = 0; !(await new VectorFreezeRepository(rel).isFrozen(targetStore)); waited += 20) {
      if (waited > 30_000) throw new Error('the target store was not frozen during the job');
      await new Promise((r) => setTimeout(r, 20));
    }
    await expect(knowledge(tgt).indexDocument('u0002', { documentId: 'too-early', content: 'written to the new store during the job' })).rejects.toMatchObject({ code: 'MAINTENANCE' });
    const job = await svc.waitFor(started.id);
    const refusedAt = writer.output().length;
    await new Promise((r) => setTimeout(r, 400)); // the old instance keeps trying against the frozen store
    await writer.stop();
    const out = writer.output();
    expect([job.status, job.errorCode ?? null, job.error]).toEqual(['CUT_OVER', null, null]);
    expect(job.verification).toMatchObject({ ok: true, orphans: 0 });
    expect(job.verification!.indexRecallAt10).toBeGreaterThanOrEqual(0.99); // the target's search vs an exact scan of it
    const live = job.progress!.live!;
    console.log(`live VECTORS (${engine} + ${sourceProvider}): ${writer.oks()} app writes accepted, ${live.rounds} catch-up round(s), ${live.applied} document change(s) applied, freeze ${live.freezeMs} ms`);
    expect(live.applied).toBeGreaterThan(0);
    expect((out.match(/^ok (index-new|reindex|reindex-shorter|delete)/gm) ?? []).length).toBeGreaterThan(20);
    expect(out.slice(refusedAt)).toMatch(/^refused \S+ MAINTENANCE: this vector store is frozen/m);
    expect(writer.otherRefusals()).toEqual([]);

    // The target equals the frozen source, record for record, and holds exactly each document's chunks.
    const [a, b] = [await all(src), await all(tgt)];
    expect(b.size).toBe(a.size);
    expect([...b].filter(([id, h]) => a.get(id) !== h)).toEqual([]);
    const docs = await rel.repository(DocumentEntity).find({ select: { userId: true, externalId: true, chunkCount: true } });
    const perDoc = new Map<string, number>();
    for await (const page of tgt.scan(2000)) for (const r of page) perDoc.set(`${r.userId}/${r.documentId}`, (perDoc.get(`${r.userId}/${r.documentId}`) ?? 0) + 1);
    const known = new Set(docs.map((d) => `${d.userId}/${d.externalId}`));
    expect([...perDoc.keys()].filter((k) => !known.has(k))).toEqual([]); // no orphan
    expect(docs.filter((d) => (perDoc.get(`${d.userId}/${d.externalId}`) ?? 0) !== d.chunkCount).map((d) => d.externalId)).toEqual([]);
    expect(a.size).toBeGreaterThan(docCount * CHUNKS * 0.5);

    // The new instance (same relational database, the new store) writes on; the old store stays frozen.
    await expect(knowledge(tgt).indexDocument('u0001', { documentId: 'after-cutover', content: 'written on the new store' })).resolves.toMatchObject({ chunks: 1 });
    await expect(knowledge(src).indexDocument('u0001', { documentId: 'to-old-store', content: 'refused' })).rejects.toMatchObject({ code: 'MAINTENANCE' });
    expect(await rel.repository(DocumentEntity).count({ where: { externalId: 'to-old-store' } })).toBe(0); // refused before its row stayed

    // Rolling back: unfreeze, and the old store takes writes again.
    expect(await svc.unfreeze('source')).toBe(true);
    await svc.close();
    await expect(knowledge(src).indexDocument('u0001', { documentId: 'after-rollback', content: 'the old store again' })).resolves.toMatchObject({ chunks: 1 });
  }, 300_000);
});
