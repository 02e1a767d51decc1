import { createEmbeddings, Embeddings } from '@switchyard/embeddings';
import { createLlm } from '@switchyard/llm';
import { createRelationalDb, DocumentEntity, DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { createVectorDb, VectorDb } from '@switchyard/vector-db';
import { freshDir, serviceEnv } from '../../../test/support/services';
import { KnowledgeService } from './knowledge.service';

/**
 * Failure part way through a re-index, on real SQLite + sqlite-vec and the real model: faults are
 * injected by making one call of the real provider throw, then the old version must still be served.
 */
describe('KnowledgeService: a failed re-index leaves the previous version searchable', () => {
  let dir: ReturnType<typeof freshDir>;
  let relational: RelationalDb;
  let vectors: VectorDb;
  let embeddings: Embeddings;
  let service: KnowledgeService;

  beforeAll(async () => {
    dir = freshDir('sy-kn-');
    relational = createRelationalDb({ provider: 'sqlite', database: dir.file('k.sqlite'), logging: false });
    await relational.init();
    embeddings = createEmbeddings({ provider: 'xenova', model: 'x', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), allowRemote: false, batchSize: 16, chunkSize: 120, chunkOverlap: 20 });
    await embeddings.init();
    vectors = createVectorDb({ provider: 'sqlite-vec', path: dir.file('k.sqlite'), dimensions: 32, collection: 'k' }, embeddings.model);
    await vectors.init();
    const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
    service = new KnowledgeService(new DocumentsRepository(relational), new UsersRepository(relational), vectors, embeddings, llm, {
      chunkSize: 120, chunkOverlap: 20, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3,
    }, new VectorFreezeRepository(relational));
  });
  afterAll(async () => {
    await vectors.close();
    await relational.close();
    await embeddings.close();
    dir.remove();
  });

  const OLD = Array.from({ length: 6 }, (_, i) => `Section ${i}: the doctor examined the patient at the hospital.`).join('\n\n');

  async function expectOldVersion() {
    const doc = await service.getDocument('u', 'd');
    expect(doc?.content).toBe(OLD);
    const hits = await service.search('u', 'physician treating a sick person', 20);
    expect(hits.length).toBe(doc!.chunkCount);
    expect(hits.every((h) => h.content.includes('doctor'))).toBe(true);
  }

  it('when embedding fails', async () => {
    const first = await service.indexDocument('u', { documentId: 'd', content: OLD });
    expect(first.chunks).toBeGreaterThan(2);
    const spy = jest.spyOn(embeddings, 'embed').mockRejectedValueOnce(new Error('model crashed'));
    await expect(service.indexDocument('u', { documentId: 'd', content: 'A happy dog plays fetch.' })).rejects.toThrow('model crashed');
    spy.mockRestore();
    await expectOldVersion();
  });

  it('when the vector store fails to write', async () => {
    const spy = jest.spyOn(vectors, 'upsert').mockRejectedValueOnce(new Error('disk full'));
    await expect(service.indexDocument('u', { documentId: 'd', content: 'A happy dog plays fetch.' })).rejects.toThrow('disk full');
    spy.mockRestore();
    await expectOldVersion();
  });

  it('when the store dies after writing the new chunks: the next write removes every chunk the dead one left', async () => {
    const long = Array.from({ length: 9 }, (_, i) => `Part ${i}: a long new version about cats and dogs playing in the garden.`).join('\n\n');
    const upsert = vectors.upsert.bind(vectors);
    const spy = jest.spyOn(vectors, 'upsert').mockImplementationOnce(async (records) => {
      await upsert(records); // every chunk of the long version is stored, then the connection drops
      throw new Error('connection reset');
    });
    await expect(service.indexDocument('u', { documentId: 'd', content: long })).rejects.toThrow('connection reset');
    spy.mockRestore();
    const short = 'A short final text.';
    const done = await service.indexDocument('u', { documentId: 'd', content: short });
    expect(done.chunks).toBe(1);
    expect(await vectors.count({ userId: 'u', documentId: 'd' })).toBe(1);
    expect((await service.getDocument('u', 'd'))?.chunkCount).toBe(1);
  });

  it('a new document whose first write fails after its chunks: neither its row nor a chunk stays (no chunk without its document)', async () => {
    const repo = relational.repository(DocumentEntity);
    const save = repo.save.bind(repo);
    // The row is created first (before any chunk), its text is recorded again after the chunks: that one fails.
    const spy = jest.spyOn(repo, 'save').mockImplementationOnce(save as never).mockRejectedValueOnce(new Error('database went away'));
    const many = Array.from({ length: 7 }, (_, i) => `Chapter ${i}: the engine of the train was repaired at the station.`).join('\n\n');
    await expect(service.indexDocument('u', { documentId: 'fresh', content: many })).rejects.toThrow('database went away');
    spy.mockRestore();
    expect(await service.getDocument('u', 'fresh')).toBeNull();
    expect(await vectors.count({ userId: 'u', documentId: 'fresh' })).toBe(0);
  });

  it('a new document whose first write died half-way (no cleanup): the row covers its chunks, and the next write removes the leftovers', async () => {
    const repo = relational.repository(DocumentEntity);
    const save = repo.save.bind(repo);
    const spy = jest.spyOn(repo, 'save').mockImplementationOnce(save as never).mockRejectedValueOnce(new Error('database went away'));
    const original = vectors.deleteByDocument.bind(vectors);
    const cleanup = jest.spyOn(vectors, 'deleteByDocument');
    cleanup.mockImplementationOnce(original).mockRejectedValueOnce(new Error('vector store went away')); // the cleanup fails too, as if the process died
    const many = Array.from({ length: 7 }, (_, i) => `Chapter ${i}: the engine of the train was repaired at the station.`).join('\n\n');
    await expect(service.indexDocument('u', { documentId: 'dead', content: many })).rejects.toThrow('database went away');
    spy.mockRestore();
    cleanup.mockRestore();
    const left = await service.getDocument('u', 'dead');
    const chunks = await vectors.count({ userId: 'u', documentId: 'dead' });
    expect(chunks).toBeGreaterThan(1); // the dead write's chunks, with their row
    expect(left?.chunkCount).toBeGreaterThanOrEqual(chunks);
    await service.indexDocument('u', { documentId: 'dead', content: 'Tiny.' });
    expect(await vectors.count({ userId: 'u', documentId: 'dead' })).toBe(1);
  });

  it('sending a document again unchanged embeds and writes nothing; any change of text, title, metadata or stored chunks is written', async () => {
    const text = Array.from({ length: 5 }, (_, i) => `Note ${i}: the pilot landed the airplane at the small airport.`).join('\n\n');
    const first = await service.indexDocument('u', { documentId: 'same', content: text, title: 'T', metadata: { a: 1, b: 'x' } });
    expect(first.unchanged).toBeUndefined();
    const embed = jest.spyOn(embeddings, 'embed');
    const upsert = jest.spyOn(vectors, 'upsert');
    try {
      const again = await service.indexDocument('u', { documentId: 'same', content: text, title: 'T', metadata: { b: 'x', a: 1 } });
      expect(again).toMatchObject({ unchanged: true, chunks: first.chunks });
      expect(again.document.version).toBe(first.document.version);
      expect(embed).not.toHaveBeenCalled();
      expect(upsert).not.toHaveBeenCalled();

      const retitled = await service.indexDocument('u', { documentId: 'same', content: text, title: 'T2', metadata: { a: 1, b: 'x' } });
      expect(retitled.unchanged).toBeUndefined();
      expect((await vectors.documentRecords('u', 'same')).every((r) => r.metadata?.title === 'T2')).toBe(true);
      const meta = await service.indexDocument('u', { documentId: 'same', content: text, title: 'T2', metadata: { a: 2, b: 'x' } });
      expect(meta.unchanged).toBeUndefined();
      expect((await service.getDocument('u', 'same'))?.metadata).toEqual({ a: 2, b: 'x' });

      // a chunk changed in the store behind the app's back: sending the document again repairs it
      const [c0] = await vectors.documentRecords('u', 'same');
      await vectors.upsert([{ ...c0, content: 'tampered' }]);
      embed.mockClear();
      const repaired = await service.indexDocument('u', { documentId: 'same', content: text, title: 'T2', metadata: { a: 2, b: 'x' } });
      expect(repaired.unchanged).toBeUndefined();
      expect(embed).toHaveBeenCalled();
      expect((await vectors.documentRecords('u', 'same'))[0].content).toBe(c0.content);

      // a write that died after storing its chunks (row still at the old text): sending the old text again re-writes it
      const next = Array.from({ length: 3 }, (_, i) => `Other ${i}: boats sail across the lake in the summer wind.`).join('\n\n');
      upsert.mockImplementationOnce(async function (this: VectorDb, records) {
        await (VectorDb.prototype.upsert as (r: typeof records) => Promise<void>).call(vectors, records);
        throw new Error('connection reset');
      });
      await expect(service.indexDocument('u', { documentId: 'same', content: next, title: 'T2', metadata: { a: 2, b: 'x' } })).rejects.toThrow('connection reset');
      const back = await service.indexDocument('u', { documentId: 'same', content: text, title: 'T2', metadata: { a: 2, b: 'x' } });
      expect(back.unchanged).toBeUndefined();
      expect((await vectors.documentRecords('u', 'same')).map((r) => r.content).join(' ')).not.toContain('boats');
      expect(await vectors.count({ userId: 'u', documentId: 'same' })).toBe(back.chunks);
    } finally {
      embed.mockRestore();
      upsert.mockRestore();
    }
  });
});
