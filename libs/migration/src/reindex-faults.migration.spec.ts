import * as path from 'node:path';
import { XenovaEmbeddings } from '@switchyard/embeddings';
import { createChunker } from '@switchyard/knowledge';
import { DocumentsRepository, RelationalDb, UsersRepository } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { freshDir, serviceEnv } from '../../../test/support/services';
import { openRelational, openVector, service, succeeded } from './testing/fixtures';

/** Sentences enough for `n` chunks of the 200-character splitter below. */
const long = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag} paragraph ${i}: the replica answered the query about vector search latency quickly.`).join('\n\n');

describe('REINDEX on stores whose statements commit one by one (SQLite + sqlite-vec): a failure mid-page', () => {
  const dir = freshDir('sy-reidx-fault-');
  const chunk = createChunker({ chunkSize: 200, chunkOverlap: 0 });
  const embeddings = new XenovaEmbeddings({ model: 'ignored', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), batchSize: 32 });
  let rel: RelationalDb;
  let vec: VectorDb;

  beforeAll(async () => {
    await embeddings.init();
    rel = await openRelational({ provider: 'sqlite', database: dir.file('app.sqlite'), logging: false });
    vec = await openVector({ provider: 'sqlite-vec', path: dir.file('vec.sqlite'), dimensions: embeddings.dimensions, collection: 'vector_embeddings' }, embeddings.model);
  });

  afterAll(async () => {
    await vec?.close();
    await rel?.close();
    await embeddings.close();
    dir.remove();
  });

  it('never leaves a lowered chunk count with the old chunks beyond it; the resumed job ends verified', async () => {
    const docs = new DocumentsRepository(rel);
    await new UsersRepository(rel).ensure('u');
    for (const d of ['a', 'b', 'c']) await docs.save({ userId: 'u', externalId: d, content: long(d, 8) });
    const svc = service({ target: { relational: rel, vector: vec }, embeddings, profiles: {}, dataDir: path.join(dir.dir, 'data'), chunk, defaultBatchSize: 10 });
    await succeeded(svc, svc.start({ kind: 'REINDEX' }));
    const before = (await vec.documentRecords('u', 'a')).length;
    expect(before).toBeGreaterThanOrEqual(3);

    // a's and b's texts become one chunk each (written without re-indexing, as a host's own code might)
    await docs.save({ userId: 'u', externalId: 'a', content: 'a is short now.' });
    await docs.save({ userId: 'u', externalId: 'b', content: 'b is short now.' });
    // The job dies while recording the second of them, after the first (same page, same group).
    const mark = DocumentsRepository.prototype.markIndexedAt;
    let calls = 0;
    DocumentsRepository.prototype.markIndexedAt = async function (this: DocumentsRepository, ...args) {
      if (++calls === 2) throw new Error('injected: the database went away while recording a document');
      return mark.apply(this, args);
    };
    let failedJob;
    try {
      failedJob = await svc.waitFor((await svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE' })).id);
    } finally {
      DocumentsRepository.prototype.markIndexedAt = mark;
    }
    expect(failedJob.status).toBe('FAILED');
    expect(calls).toBe(2);
    for (const d of ['a', 'b', 'c']) {
      const count = (await docs.findOne('u', d))!.chunkCount;
      // Whatever a document's recorded count says, no chunk of it lies beyond (the next write would never remove it).
      const beyond = (await vec.documentRecords('u', d)).filter((r) => r.chunkIndex >= count).map((r) => r.id);
      expect([d, beyond]).toEqual([d, []]);
    }

    const resumed = await succeeded(svc, svc.resume(failedJob.id));
    expect(resumed.verification?.ok).toBe(true);
    expect((await vec.documentRecords('u', 'a')).map((r) => r.content)).toEqual(await chunk('a is short now.'));
    expect((await vec.documentRecords('u', 'b')).map((r) => r.content)).toEqual(await chunk('b is short now.'));
    await svc.close();
  });
});
