import { randomBytes } from 'node:crypto';
import { ChromaClient } from 'chromadb';
import { createVectorDb, VectorDb, VectorRecord } from '@switchyard/vector-db';
import { makeRecords } from '../../vector-db/src/testing/records';
import { freshPostgres, serviceEnv } from '../../../test/support/services';
import { VectorCollection } from './datasets';
import { copyPages, RejectedItem } from './pipeline';

/**
 * Defect 5 at the migration's level: a Chroma source re-indexed / pruned by the app while a copy runs.
 * The copy loop must not end at the first short page (it used to copy 20 of 60 records after one delete).
 */
describe('copying a Chroma source that changes during the copy', () => {
  const DIMS = 16;
  const url = serviceEnv('TEST_CHROMA_URL');
  const collection = `mig_scan_${randomBytes(4).toString('hex')}`;
  let pg: Awaited<ReturnType<typeof freshPostgres>>;
  const handles: VectorDb[] = [];
  const open = async (db: VectorDb, createIfMissing = true) => (await db.init({ createIfMissing }), handles.push(db), db);

  beforeAll(async () => {
    pg = await freshPostgres('chromascan');
  });
  afterAll(async () => {
    for (const h of handles) await h.close();
    const u = new URL(url);
    await new ChromaClient({ host: u.hostname, port: Number(u.port) }).deleteCollection({ name: collection }).catch(() => undefined);
    await pg?.drop();
  });

  it('copies every record that was not deleted, the replaced ones as they are now, and sets a NUL record aside', async () => {
    const recs = makeRecords(60, DIMS, { seed: 31, prefix: 'm' });
    recs[45] = { ...recs[45], content: 'a NUL \u0000 inside' };
    const app = await open(createVectorDb({ provider: 'chromadb', url, dimensions: DIMS, collection }, 'model-a'));
    await app.upsert(recs);
    // As job-context opens a source: its own handle, read-only, model unknown.
    const source = await open(createVectorDb({ provider: 'chromadb', url, dimensions: DIMS, collection }, null), false);
    const target = await open(createVectorDb({ provider: 'pgvector', connection: pg.connection, dimensions: DIMS, collection: 'vector_embeddings' }, 'model-a'));

    // Deleted and replaced by the app after the first batch (beyond the page read ahead).
    const gone = new Set([22, ...Array.from({ length: 10 }, (_, i) => 30 + i), 59].map((i) => recs[i].id));
    const replaced = [25, 50].map((i) => ({ ...recs[i], content: `re-indexed ${i}` }));
    const rejected: RejectedItem<VectorRecord>[] = [];
    let batches = 0;
    await copyPages({
      reader: new VectorCollection(source),
      writer: new VectorCollection(target),
      pageSize: 10,
      mode: { first: 'error', rest: 'error' },
      onRejects: (r) => void rejected.push(...r),
      onBatch: async () => {
        if (++batches === 1) {
          await app.deleteIds([...gone]);
          await app.upsert(replaced);
        }
      },
    });

    expect(rejected.map((r) => [r.id, r.reason])).toEqual([[recs[45].id, expect.stringContaining('content contains a NUL')]]);
    const copied: VectorRecord[] = [];
    for await (const page of target.scan(100)) copied.push(...page);
    expect(copied.map((r) => r.id)).toEqual(recs.map((r) => r.id).filter((id) => !gone.has(id) && id !== recs[45].id));
    const byId = new Map(copied.map((r) => [r.id, r]));
    for (const r of replaced) expect(byId.get(r.id)!.content).toBe(r.content);
  });
});
