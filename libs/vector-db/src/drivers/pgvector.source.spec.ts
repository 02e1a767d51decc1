import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { makeRecords } from '../testing/records';
import { createVectorDb } from '../vector-db.factory';
import { VectorDb } from '../vector-db.port';
import { freshPostgres } from '../../../../test/support/services';

const DIMS = 8;

describe('pgvector: sources, long names, identity', () => {
  let pg: Awaited<ReturnType<typeof freshPostgres>>;
  let admin: Client;
  const open = (collection: string, model: string | null, connection = pg.connection): VectorDb =>
    createVectorDb({ provider: 'pgvector', connection, dimensions: DIMS, collection }, model);
  const catalog = async <T>(sql: string, args: unknown[] = []) => (await admin.query(sql, args)).rows as T[];

  beforeAll(async () => {
    pg = await freshPostgres('pgsrc');
    admin = new Client({ connectionString: pg.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await pg?.drop();
  });

  it('a source on a database Switchyard never wrote is NOT_FOUND and creates nothing (no meta table, no extension change)', async () => {
    const before = await catalog<{ n: string }>(`SELECT count(*) AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`);
    const source = open('vector_embeddings', null);
    await expect(source.init({ createIfMissing: false })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('vector_embeddings') });
    await source.close();
    expect(await catalog(`SELECT to_regclass('switchyard_vector_meta') AS t`)).toEqual([{ t: null }]);
    expect(await catalog<{ n: string }>(`SELECT count(*) AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace`)).toEqual(before);
  });

  it('a role with only SELECT can open, describe, scan and identify a source; the handle refuses writes', async () => {
    const writer = open('vector_embeddings', 'model-a');
    await writer.init();
    const recs = makeRecords(30, DIMS, { seed: 8 });
    await writer.upsert(recs);
    const role = `sy_ro_${randomBytes(4).toString('hex')}`;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    try {
      await admin.query(`GRANT CONNECT ON DATABASE "${pg.connection.database}" TO ${role}`);
      await admin.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await admin.query(`GRANT SELECT ON vector_embeddings, switchyard_vector_meta TO ${role}`);
      const source = open('vector_embeddings', null, { ...pg.connection, username: role, password: undefined });
      await source.init({ createIfMissing: false });
      expect(await source.describe()).toMatchObject({ storedModel: 'model-a', storedDimensions: DIMS, count: 30, mismatch: null });
      const seen: string[] = [];
      for await (const page of source.scan(7)) seen.push(...page.map((r) => r.id));
      expect(seen).toEqual(recs.map((r) => r.id));
      expect((await source.query(recs[4].embedding, { userId: recs[4].userId, k: 1 }))[0].id).toBe(recs[4].id);
      // The same store whatever role reaches it.
      expect(await source.identity()).toBe(await writer.identity());
      await expect(source.upsert(makeRecords(1, DIMS, { prefix: 'w' }))).rejects.toMatchObject({ message: expect.stringContaining('read-only') });
      await expect(source.prepareBulkLoad()).rejects.toMatchObject({ message: expect.stringContaining('read-only') });
      await source.close();
    } finally {
      await admin.query(`DROP OWNED BY ${role}`);
      await admin.query(`DROP ROLE ${role}`);
      await writer.close();
    }
  });

  it('identity is pgvector:<system_identifier>:<database oid>:<schema>.<table>', async () => {
    const db = open('vector_embeddings', 'model-a');
    await db.init();
    const [{ sid, oid }] = await catalog<{ sid: string; oid: string }>(
      `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sid, (SELECT oid::text FROM pg_database WHERE datname = current_database()) AS oid`,
    );
    expect(await db.identity()).toBe(`pgvector:${sid}:${oid}:public.vector_embeddings`);
    await db.close();
  });

  it('two collections whose names share their first 63 bytes get their own table and indexes', async () => {
    const long = 'c'.repeat(64);
    const [a, b] = [open(`${long}_alpha`, 'm'), open(`${long}_beta`, 'm')];
    await a.init();
    await b.init();
    const ra = makeRecords(3, DIMS, { seed: 1, prefix: 'a' });
    const rb = makeRecords(5, DIMS, { seed: 2, prefix: 'b' });
    await a.upsert(ra);
    await b.upsert(rb);
    expect([await a.count(), await b.count()]).toEqual([3, 5]);
    expect((await a.query(ra[1].embedding, { userId: ra[1].userId, k: 10 })).map((m) => m.id)).toEqual(expect.arrayContaining([ra[1].id]));
    expect((await a.query(ra[1].embedding, { userId: ra[1].userId, k: 10 })).every((m) => m.id.startsWith('a-'))).toBe(true);
    expect((await b.query(rb[2].embedding, { userId: rb[2].userId, k: 10 }))[0].id).toBe(rb[2].id);

    const indexes = async () =>
      catalog<{ t: string; i: string; am: string }>(
        `SELECT t.relname AS t, i.relname AS i, am.amname AS am FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
         JOIN pg_am am ON am.oid = i.relam WHERE t.relname LIKE 'ccc%' ORDER BY 1, 2`,
      );
    const all = await indexes();
    const tables = [...new Set(all.map((r) => r.t))];
    expect(tables).toHaveLength(2);
    for (const t of tables) expect(all.filter((r) => r.t === t).map((r) => r.am).sort()).toEqual(['btree', 'btree', 'hnsw']); // pkey, user_doc, hnsw
    expect(new Set(all.map((r) => r.i)).size).toBe(all.length);
    for (const r of all) expect(Buffer.byteLength(r.i)).toBeLessThanOrEqual(63);
    // Rebuilding one collection's index leaves the other's alone.
    await a.prepareBulkLoad();
    expect((await indexes()).filter((r) => r.am === 'hnsw')).toHaveLength(1);
    await a.finishBulkLoad();
    expect(await indexes()).toEqual(all);
    await a.reset();
    expect([await a.count(), await b.count()]).toEqual([0, 5]);
    await a.close();
    await b.close();
  });

  it('an HNSW index under another name (a name PostgreSQL cut before) is found, not built twice, and dropped for a bulk load', async () => {
    const db = open('legacy_names', 'm');
    await db.init();
    await db.upsert(makeRecords(4, DIMS, { seed: 5 }));
    await admin.query(`ALTER INDEX legacy_names_embedding_hnsw RENAME TO legacy_names_embedding_hn`);
    const hnsw = () => catalog<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE tablename = 'legacy_names' AND indexdef LIKE '%USING hnsw%'`);
    await db.finishBulkLoad();
    expect(await hnsw()).toEqual([{ i: 'legacy_names_embedding_hn' }]);
    await db.prepareBulkLoad();
    expect(await hnsw()).toEqual([]);
    await db.finishBulkLoad();
    expect(await hnsw()).toEqual([{ i: 'legacy_names_embedding_hnsw' }]);
    await db.close();
  });

  it('instances that open one new collection at the same moment all succeed, with one table and one HNSW index (a generation every instance opens at once)', async () => {
    for (let round = 0; round < 3; round++) {
      const handles = Array.from({ length: 6 }, () => open(`together_${round}`, 'model-a'));
      const results = await Promise.allSettled(handles.map((h) => h.init()));
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      const indexes = await catalog<{ indexdef: string }>(`SELECT indexdef FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%hnsw%'`, [`together_${round}`]);
      expect(indexes).toHaveLength(1);
      await Promise.all(handles.map((h) => h.close()));
    }
  });

  it('insertNew on a table without a unique key on id still refuses a stored id (it looks first instead of trusting the key)', async () => {
    const name = `nokey_${randomBytes(3).toString('hex')}`;
    const first = open(name, 'model-a');
    await first.init();
    const recs = makeRecords(3, DIMS, { seed: 4, prefix: name });
    await first.insertNew(recs);
    await first.close();
    // A table someone altered by hand: no primary key, so a COPY of a stored id would go in twice.
    await admin.query(`ALTER TABLE "${name}" DROP CONSTRAINT "${name}_pkey"`);
    const db = open(name, 'model-a');
    await db.init();
    await expect(db.insertNew([recs[1]])).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining(JSON.stringify(recs[1].id)) });
    expect(await catalog<{ n: number }>(`SELECT count(*)::int AS n FROM "${name}"`)).toEqual([{ n: 3 }]);
    await db.close();
  });

});
