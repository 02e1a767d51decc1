import { cpSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { ChromaClient } from 'chromadb';
import { loadConfig, VectorDbConfig } from '@switchyard/core';
import { createVectorDb } from '../vector-db.factory';
import { VectorDb } from '../vector-db.port';
import { VectorRecord } from '../vector-db.types';
import { makeRecords } from '../testing/records';
import { repoRoot } from '../../../../test/support/services';

// The project's own throw-away Chroma server (scripts/services/chroma.js): this test needs its data directory.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startChroma } = require(path.join(repoRoot(), 'scripts/services/chroma.js')) as {
  startChroma(o: { log(m: string): void }): Promise<{ url: string; dataDir: string; stop(o?: { keepData?: boolean }): Promise<void> }>;
};

const DIMS = 24;
/** More than Chroma's sync_threshold (1000): part of the vectors is in the HNSW files, the rest only in the queue. */
const N = 2600;

/** Records as comparable values: metadata keys sorted (Chroma's own order is arbitrary), vectors as bytes. */
const comparable = (rs: VectorRecord[]) =>
  rs.map(({ embedding, metadata, ...r }) => ({ ...r, metadata: Object.fromEntries(Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : 1))), embedding: Buffer.from(embedding.buffer, embedding.byteOffset, embedding.byteLength).toString('base64') }));

async function all(db: VectorDb, pageSize = 700): Promise<VectorRecord[]> {
  const out: VectorRecord[] = [];
  for await (const page of db.scan(pageSize)) out.push(...page);
  return out;
}

/**
 * The persist-directory reader against a real Chroma server: what it reads from the directory equals what
 * the server's API gives, for a Switchyard collection and for one written by another tool, while the
 * server is idle and after it stopped; a server writing meanwhile is CONFLICT, never a mixed read.
 */
describe('ChromaPersistVectorDb: a Chroma collection read from its persist directory (real Chroma server)', () => {
  let chroma: Awaited<ReturnType<typeof startChroma>>;
  const handles: VectorDb[] = [];
  const open = async (config: VectorDbConfig, createIfMissing = false) => {
    const db = createVectorDb(config, null);
    handles.push(db);
    await db.init({ createIfMissing });
    return db;
  };
  const api = (collection: string): Extract<VectorDbConfig, { provider: 'chromadb' }> => ({ provider: 'chromadb', url: chroma.url, dimensions: DIMS, collection });
  const disk = (collection: string): Extract<VectorDbConfig, { provider: 'chromadb' }> => ({ ...api(collection), persistDir: chroma.dataDir });
  let client: ChromaClient;
  const expected: Record<string, VectorRecord[]> = {};

  beforeAll(async () => {
    chroma = await startChroma({ log: () => undefined });
    const u = new URL(chroma.url);
    client = new ChromaClient({ host: u.hostname, port: Number(u.port) });

    // Written by Switchyard's driver: adds, a delete, an upsert that drops metadata keys (delete + add), ids outside the BMP.
    const app = createVectorDb(api('sy_coll'), 'model-a');
    handles.push(app);
    await app.init();
    const recs = makeRecords(N, DIMS, { seed: 7, users: 5, prefix: 'p' });
    recs[3] = { ...recs[3], id: 'p-\u{1F600}-astral', content: 'emoji id' };
    recs[4] = { ...recs[4], id: 'p-\uE000-private' };
    for (let i = 0; i < N; i += 500) await app.upsert(recs.slice(i, i + 500));
    await app.deleteIds([recs[10].id, recs[2500].id]);
    await app.upsert([{ ...recs[20], content: 'replaced', metadata: { only: 'one key' } }, { ...recs[2550], content: 'replaced late', metadata: {} }]);
    await app.deleteByDocument(recs[100].userId, recs[100].documentId);

    // Written by another tool through Chroma's own client: no Switchyard keys, a vector updated in place.
    const foreign = await client.createCollection({ name: 'foreign', embeddingFunction: null as never, configuration: { hnsw: { space: 'cosine' } } });
    const f = makeRecords(1500, DIMS, { seed: 9, prefix: 'f' });
    for (let i = 0; i < f.length; i += 500) {
      const part = f.slice(i, i + 500);
      await foreign.add({ ids: part.map((r) => r.id), embeddings: part.map((r) => Array.from(r.embedding).map((x) => x * 3)), documents: part.map((r) => r.content), metadatas: part.map((r) => ({ user_id: r.userId, document_id: r.documentId, n: r.chunkIndex, ok: r.chunkIndex % 2 === 0 })) });
    }
    await foreign.update({ ids: [f[0].id, f[1400].id], embeddings: [Array.from(f[5].embedding), Array.from(f[6].embedding)] });
    await foreign.delete({ ids: [f[7].id] });

    // Another metric: an l2 index stores vectors as given (its length.bin is not the vectors' lengths).
    const l2 = await client.createCollection({ name: 'foreign_l2', embeddingFunction: null as never, configuration: { hnsw: { space: 'l2' } } });
    for (let i = 0; i < f.length; i += 500) {
      const part = f.slice(i, i + 500);
      await l2.add({ ids: part.map((r) => r.id), embeddings: part.map((r) => Array.from(r.embedding).map((x) => x * 2)), documents: part.map((r) => r.content) });
    }

    for (const name of ['sy_coll', 'foreign', 'foreign_l2']) expected[name] = await all(await open({ ...api(name), dimensions: DIMS }));
  }, 120_000);

  afterAll(async () => {
    for (const h of handles) await h.close().catch(() => undefined);
    await chroma?.stop();
    if (chroma) rmSync(path.dirname(chroma.dataDir), { recursive: true, force: true });
  });

  it.each(['sy_coll', 'foreign', 'foreign_l2'])('"%s": every record equals what the API returns (ids in the same order, text, metadata, exact float32 vectors)', async (name) => {
    const db = await open(disk(name));
    const got = await all(db, 333);
    expect(got.length).toBe(expected[name].length);
    expect(comparable(got)).toEqual(comparable(expected[name]));
    expect(await db.count()).toBe(expected[name].length);
    expect(await db.identity()).toBe(await (await open(api(name))).identity());
  });

  it('the queue holds vectors not yet persisted to the HNSW files (the case the replay is for)', async () => {
    const sqlite = (await import('better-sqlite3')).default;
    const db = new sqlite(path.join(chroma.dataDir, 'chroma.sqlite3'), { readonly: true });
    try {
      const pending = db.prepare("SELECT count(*) AS n FROM embeddings_queue q JOIN segments s ON s.scope = 'VECTOR' AND q.topic LIKE '%/' || s.collection JOIN max_seq_id m ON m.segment_id = s.id WHERE q.seq_id > m.seq_id AND q.vector IS NOT NULL").get() as { n: number };
      expect(pending.n).toBeGreaterThan(100);
    } finally {
      db.close();
    }
  });

  it('reads by id, by document and by user as the API does; queries exactly', async () => {
    const sy = await open(disk('sy_coll'));
    const viaApi = await open(api('sy_coll'));
    const some = expected.sy_coll.filter((_, i) => i % 97 === 0).map((r) => r.id);
    const ids = [...some, 'no-such-id'];
    expect(comparable(await sy.records(ids))).toEqual(comparable(await viaApi.records(ids)));
    expect((await sy.existingIds(ids)).sort()).toEqual((await viaApi.existingIds(ids)).sort());
    const r = expected.sy_coll[50];
    expect(comparable(await sy.documentRecords(r.userId, r.documentId))).toEqual(comparable(await viaApi.documentRecords(r.userId, r.documentId)));
    expect(await sy.count({ userId: r.userId })).toBe(await viaApi.count({ userId: r.userId }));
    const top = await sy.query(r.embedding, { userId: r.userId, k: 5 });
    expect(top[0]).toMatchObject({ id: r.id, userId: r.userId });
    expect(top[0].distance).toBeCloseTo(0, 5);
    expect(top.every((m) => m.userId === r.userId)).toBe(true);
    expect((await sy.splitPoints(1000)).length).toBe(Math.floor(expected.sy_coll.length / 1000));
  });

  it('a failed open leaves no file handle behind', async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 20; i++) await expect(open(disk('absent'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(fds()).toBeLessThanOrEqual(before + 2);
  });

  it('never writes, and a missing collection is NOT_FOUND', async () => {
    const sy = await open(disk('sy_coll'));
    await expect(sy.upsert([expected.sy_coll[0]])).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('read-only') });
    await expect(sy.deleteIds([expected.sy_coll[0].id])).rejects.toMatchObject({ message: expect.stringContaining('read-only') });
    await expect(open(disk('absent'), true)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await (await open(api('sy_coll'))).count()).toBe(expected.sy_coll.length);
  });

  it('a server writing into the directory meanwhile is CONFLICT, not a mixed read', async () => {
    const sy = await open(disk('sy_coll'));
    const pages = sy.scan(500);
    await pages.next();
    const app = createVectorDb(api('sy_coll'), 'model-a');
    handles.push(app);
    await app.init();
    await app.upsert(makeRecords(1, DIMS, { seed: 3, prefix: 'zz-late' }));
    await expect(pages.next()).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('changed while it was being read') });
    expected.sy_coll = await all(await open(api('sy_coll')));
  });

  it('after the server stopped: still the same records (the export the reader is for)', async () => {
    await chroma.stop({ keepData: true });
    for (const name of ['sy_coll', 'foreign', 'foreign_l2']) expect(comparable(await all(await open(disk(name))))).toEqual(comparable(expected[name]));
  });

  it('HNSW files without a record of the last write they hold are refused, not replayed over', async () => {
    const copy = `${chroma.dataDir}-nomax`;
    cpSync(chroma.dataDir, copy, { recursive: true });
    const sqlite = (await import('better-sqlite3')).default;
    const db = new sqlite(path.join(copy, 'chroma.sqlite3'));
    db.prepare("DELETE FROM max_seq_id WHERE segment_id IN (SELECT s.id FROM segments s JOIN collections c ON c.id = s.collection WHERE c.name = 'sy_coll' AND s.scope = 'VECTOR')").run();
    db.close();
    try {
      await expect(open({ ...disk('sy_coll'), persistDir: copy })).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringContaining('no record of the last write') });
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });

  it('configuration: a source profile may name a persist directory; the app itself may not', () => {
    const base = { VECTOR_DB_PROVIDER: 'chromadb', RELATIONAL_DB_PROVIDER: 'sqlite', RELATIONAL_DB_DATABASE: '/tmp/x.sqlite' };
    const cfg = loadConfig({ ...base, MIGRATION_OLD_VECTOR_DB_PROVIDER: 'chromadb', MIGRATION_OLD_VECTOR_DB_CHROMA_PERSIST_DIR: '/srv/chroma' });
    expect(cfg.migration.profiles.old.vector).toMatchObject({ provider: 'chromadb', persistDir: '/srv/chroma' });
    expect(() => loadConfig({ ...base, VECTOR_DB_CHROMA_PERSIST_DIR: '/srv/chroma' })).toThrow(/VECTOR_DB_CHROMA_PERSIST_DIR: only a migration source/);
    expect(() => loadConfig({ ...base, MIGRATION_OLD_VECTOR_DB_PROVIDER: 'sqlite-vec', MIGRATION_OLD_VECTOR_DB_CHROMA_PERSIST_DIR: '/srv/chroma' })).toThrow(/MIGRATION_OLD_VECTOR_DB_CHROMA_PERSIST_DIR: is read only with MIGRATION_OLD_VECTOR_DB_PROVIDER=chromadb/);
  });
});
