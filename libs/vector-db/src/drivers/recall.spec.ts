import { randomBytes } from 'node:crypto';
import { VectorDbConfig } from '@switchyard/core';
import { createVectorDb } from '../vector-db.factory';
import { VectorDb } from '../vector-db.port';
import { VectorRecord } from '../vector-db.types';
import { rng, unitVector } from '../testing/records';
import { freshDir, freshPostgres, serviceEnv } from '../../../../test/support/services';

const DIMS = 128;
const USERS: [string, number][] = [['big', 12_000], ['mid', 6_000], ['small', 2_000]]; // 20,000 chunks
const QUERIES_PER_USER = 40;
const K = 10;

/** Chunks that cluster like real embeddings (documents about a few topics), not uniform noise. */
function corpus(): VectorRecord[] {
  const next = rng(42);
  const topics = Array.from({ length: 40 }, () => unitVector(DIMS, next));
  const out: VectorRecord[] = [];
  for (const [userId, n] of USERS) {
    for (let i = 0; i < n; i++) {
      const t = topics[Math.floor(next() * topics.length)];
      const noise = unitVector(DIMS, next);
      const v = new Float32Array(DIMS);
      let norm = 0;
      for (let d = 0; d < DIMS; d++) (v[d] = t[d] + 1.2 * noise[d]), (norm += v[d] * v[d]);
      for (let d = 0; d < DIMS; d++) v[d] /= Math.sqrt(norm);
      out.push({ id: `${userId}-${String(i).padStart(6, '0')}`, userId, documentId: `${userId}-doc-${Math.floor(i / 10)}`, chunkIndex: i % 10, content: `c${i}`, embedding: v, metadata: {} });
    }
  }
  return out;
}

function exactTopK(records: VectorRecord[], q: Float32Array, userId: string): string[] {
  return records
    .filter((r) => r.userId === userId)
    .map((r) => {
      let dot = 0;
      for (let d = 0; d < DIMS; d++) dot += r.embedding[d] * q[d];
      return { id: r.id, distance: 1 - dot };
    })
    .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1))
    .slice(0, K)
    .map((m) => m.id);
}

/**
 * User-filtered top-10 against an exact scan, at 20k chunks for 3 users of very different sizes, on every
 * driver: recall@10 must reach 0.99 for every user (the search-quality half of moving between providers).
 */
describe.each<[string, () => Promise<{ db: VectorDb; cleanup(): Promise<void> }>]>([
  [
    'sqlite-vec',
    async () => {
      const dir = freshDir('sy-recall-');
      return { db: createVectorDb({ provider: 'sqlite-vec', path: dir.file('v.sqlite'), dimensions: DIMS, collection: 'recall' }, 'm'), cleanup: async () => dir.remove() };
    },
  ],
  [
    'pgvector',
    async () => {
      const pg = await freshPostgres('recall');
      return { db: createVectorDb({ provider: 'pgvector', connection: pg.connection, dimensions: DIMS, collection: 'recall' } as VectorDbConfig, 'm'), cleanup: () => pg.drop() };
    },
  ],
  [
    'chromadb',
    async () => {
      const db = createVectorDb({ provider: 'chromadb', url: serviceEnv('TEST_CHROMA_URL'), dimensions: DIMS, collection: `recall_${randomBytes(4).toString('hex')}` }, 'm');
      return { db, cleanup: () => db.reset() };
    },
  ],
])('recall@10 against an exact scan, user-filtered, 20k chunks x 128 (%s, real store)', (_name, open) => {
  const records = corpus();
  let db: VectorDb;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, cleanup } = await open());
    await db.init();
    await db.prepareBulkLoad();
    for (let i = 0; i < records.length; i += 1000) await db.upsert(records.slice(i, i + 1000));
    await db.finishBulkLoad();
  }, 240_000);

  afterAll(async () => {
    await cleanup?.();
    await db?.close();
  });

  it('reaches 0.99 for every user, the smallest (10% of the store) included', async () => {
    const next = rng(7);
    const per: Record<string, number> = {};
    for (const [userId] of USERS) {
      let hit = 0;
      for (let i = 0; i < QUERIES_PER_USER; i++) {
        const q = unitVector(DIMS, next);
        const probe = records[Math.floor(next() * records.length)].embedding;
        const v = new Float32Array(DIMS);
        let norm = 0;
        for (let d = 0; d < DIMS; d++) (v[d] = probe[d] + 1.0 * q[d]), (norm += v[d] * v[d]);
        for (let d = 0; d < DIMS; d++) v[d] /= Math.sqrt(norm);
        const want = exactTopK(records, v, userId);
        const got = new Set((await db.query(v, { userId, k: K })).map((m) => m.id));
        hit += want.filter((id) => got.has(id)).length;
      }
      per[userId] = hit / (QUERIES_PER_USER * K);
    }
    console.log(`recall@10 vs exact (${_name}): ${JSON.stringify(per)}`);
    for (const [userId] of USERS) expect([userId, per[userId]]).toEqual([userId, expect.any(Number)]);
    expect(Math.min(...Object.values(per))).toBeGreaterThanOrEqual(0.99);
  }, 120_000);
});
