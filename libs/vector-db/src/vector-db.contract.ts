import { VectorProvider } from '@switchyard/core';
import { makeRecords, rng, unitVector } from './testing/records';
import { VectorDb } from './vector-db.port';
import { VectorRecord } from './vector-db.types';

export interface VectorHarness {
  /** A handle on the shared test store with these dimensions and model (same collection each call unless named). */
  open(dimensions: number, model: string | null, collection?: string): VectorDb;
  /** A handle on the same store reached through another spelling (a symlinked path, localhost vs 127.0.0.1). */
  openAlias(dimensions: number, model: string | null, collection?: string): VectorDb;
  /** A handle on another physical store of the same driver (same collection name), if the harness has one. */
  openElsewhere?(dimensions: number, model: string | null): Promise<VectorDb>;
  cleanup(): Promise<void>;
}

const DIMS = 32;

async function scanAll(db: VectorDb, page = 1000, after?: string): Promise<VectorRecord[]> {
  const out: VectorRecord[] = [];
  for await (const p of db.scan(page, after)) out.push(...p);
  return out;
}

async function firstPage(db: VectorDb, size: number, after?: string): Promise<VectorRecord[]> {
  for await (const p of db.scan(size, after)) return p;
  return [];
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return null;
}

const ids = (rs: { id: string }[]) => rs.map((r) => r.id);

/** The same assertions for every VectorDb driver, against the real store. */
export function runVectorDbContract(provider: VectorProvider, make: () => Promise<VectorHarness>): void {
  describe(`VectorDb contract: ${provider}`, () => {
    let h: VectorHarness;
    let db: VectorDb;
    const records = makeRecords(10_000, DIMS, { seed: 7 });

    beforeAll(async () => {
      h = await make();
      db = h.open(DIMS, 'model-a');
      await db.init();
    });
    afterAll(async () => {
      await db?.close();
      await h?.cleanup();
    });

    it('describes itself: provider, cosine, dimensions, model, empty', async () => {
      const info = await db.describe();
      expect(info).toMatchObject({ provider, metric: 'cosine', dimensions: DIMS, storedDimensions: DIMS, model: 'model-a', storedModel: 'model-a', count: 0, mismatch: null });
      await expect(db.ping()).resolves.toBe(true);
    });

    it('upserts a 10k batch and counts it, per user and per document', async () => {
      await db.upsert(records);
      expect(await db.count()).toBe(10_000);
      expect(await db.count({ userId: 'user-1' })).toBe(records.filter((r) => r.userId === 'user-1').length);
      expect(await db.count({ userId: 'user-1', documentId: 'doc-1' })).toBe(records.filter((r) => r.userId === 'user-1' && r.documentId === 'doc-1').length);
    });

    it('round-trips every record exactly (float32 embeddings, content, metadata types) in stable id order', async () => {
      const all = await scanAll(db, 999);
      expect(all.map((r) => r.id)).toEqual(records.map((r) => r.id));
      for (const [i, r] of all.entries()) {
        const want = records[i];
        expect(r.userId).toBe(want.userId);
        expect(r.documentId).toBe(want.documentId);
        expect(r.chunkIndex).toBe(want.chunkIndex);
        expect(r.content).toBe(want.content);
        expect(r.metadata).toEqual(want.metadata);
        expect(r.embedding).toBeInstanceOf(Float32Array);
        expect(Buffer.from(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength).equals(Buffer.from(want.embedding.buffer))).toBe(true);
      }
      const tail = await scanAll(db, 500, records[6999].id);
      expect(tail.map((r) => r.id)).toEqual(records.slice(7000).map((r) => r.id));
    });

    it('cuts itself into ranges (splitPoints) that a bounded scan reads back: every record once, in order', async () => {
      const points = await db.splitPoints(3000);
      expect(points).toEqual([records[2999].id, records[5999].id, records[8999].id]);
      expect(await db.splitPoints(10_000)).toEqual([records[9999].id]);
      expect(await db.splitPoints(20_000)).toEqual([]);
      const ranges = [undefined, ...points].map((after, i) => [after, points[i]] as const);
      const seen: string[] = [];
      for (const [after, until] of ranges) {
        const part: string[] = [];
        for await (const p of db.scan(700, after, until)) part.push(...p.map((r) => r.id));
        if (until !== undefined) expect(part[part.length - 1]).toBe(until);
        seen.push(...part);
      }
      expect(seen).toEqual(records.map((r) => r.id));
      // A range inside a page, and an empty one.
      const inner: string[] = [];
      for await (const p of db.scan(1000, records[10].id, records[12].id)) inner.push(...p.map((r) => r.id));
      expect(inner).toEqual([records[11].id, records[12].id]);
      for await (const p of db.scan(10, records[12].id, records[12].id)) throw new Error(`an empty range yielded ${p.length}`);
    });

    it('reads the fields without the embeddings (scanFields, fieldRecords): what scan and records read, the embedding as its dimension', async () => {
      const withoutEmbedding = ({ embedding, ...f }: VectorRecord) => ({ ...f, dimensions: embedding.length });
      const fields: unknown[] = [];
      for await (const p of db.scanFields(700, records[100].id, records[2100].id)) fields.push(...p);
      expect(fields).toEqual((await scanAll(db, 700, records[100].id)).slice(0, 2000).map(withoutEmbedding));
      expect(fields.every((f) => !('embedding' in (f as object)))).toBe(true);
      const asked = [records[9].id, 'nope', records[3].id, ...records.slice(5000, 6200).map((x) => x.id)];
      const got = await db.fieldRecords(asked);
      expect(got).toEqual((await db.records(asked)).map(withoutEmbedding));
      expect(got.map((r) => r.id)).toEqual(asked.filter((id) => id !== 'nope'));
      expect(got[0]).toMatchObject({ userId: records[9].userId, documentId: records[9].documentId, chunkIndex: records[9].chunkIndex, content: records[9].content, dimensions: DIMS });
      expect(await db.fieldRecords([])).toEqual([]);
      await expect(async () => {
        for await (const p of db.scanFields(0)) void p;
      }).rejects.toMatchObject({ code: 'BAD_INPUT' });
    });

    it('scans the records of some users only (scanUsers): what scan yields of them, in id order, each once', async () => {
      const users = [records[7].userId, records[4000].userId, 'no-such-user', records[7].userId];
      const got: VectorRecord[] = [];
      for await (const p of db.scanUsers(users, 60)) {
        expect(p.length).toBeGreaterThan(0);
        got.push(...p);
      }
      const theirs = (await scanAll(db)).filter((r) => users.includes(r.userId));
      expect(theirs.length).toBeGreaterThan(60);
      expect(got).toEqual(theirs);
      for await (const p of db.scanUsers([], 10)) throw new Error(`no users yielded ${p.length}`);
      for await (const p of db.scanUsers(['no-such-user'], 10)) throw new Error(`an unknown user yielded ${p.length}`);
    });

    it('answers user-scoped k-NN: a stored vector finds itself first, never another user', async () => {
      const probe = records[1234];
      const hits = await db.query(probe.embedding, { userId: probe.userId, k: 10 });
      expect(hits).toHaveLength(10);
      expect(hits[0].id).toBe(probe.id);
      expect(hits[0].score).toBeCloseTo(1, 4);
      expect(hits[0].distance).toBeCloseTo(0, 4);
      expect(hits[0].content).toBe(probe.content);
      expect(hits[0].metadata).toEqual(probe.metadata);
      for (const m of hits) expect(m.userId).toBe(probe.userId);
      for (let i = 1; i < hits.length; i++) expect(hits[i].distance).toBeGreaterThanOrEqual(hits[i - 1].distance - 1e-6);
      const other = await db.query(probe.embedding, { userId: 'user-0', k: 5 });
      expect(other.every((m) => m.userId === 'user-0' && m.id !== probe.id)).toBe(true);
      const inDoc = await db.query(probe.embedding, { userId: probe.userId, documentId: probe.documentId, k: 50 });
      expect(inDoc.length).toBe(records.filter((r) => r.userId === probe.userId && r.documentId === probe.documentId).length);
      expect(inDoc.every((m) => m.documentId === probe.documentId)).toBe(true);
      expect(await db.query(probe.embedding, { userId: 'nobody', k: 5 })).toEqual([]);
    });

    it('recall of user-scoped top-10 against exact search is high', async () => {
      const next = rng(99);
      let hit = 0;
      let total = 0;
      for (let q = 0; q < 20; q++) {
        const v = unitVector(DIMS, next);
        const user = `user-${q % 3}`;
        const exact = records
          .filter((r) => r.userId === user)
          .map((r) => ({ id: r.id, d: 1 - r.embedding.reduce((s, x, i) => s + x * v[i], 0) }))
          .sort((a, b) => a.d - b.d)
          .slice(0, 10)
          .map((r) => r.id);
        const got = new Set((await db.query(v, { userId: user, k: 10 })).map((m) => m.id));
        hit += exact.filter((id) => got.has(id)).length;
        total += 10;
      }
      expect(hit / total).toBeGreaterThanOrEqual(0.9);
    });

    it('keeps users apart when they share a document id, and deletes only the owner’s chunks', async () => {
      const next = rng(5);
      const mk = (userId: string, i: number): VectorRecord => ({ id: `${userId}-shared-${i}`, userId, documentId: 'shared', chunkIndex: i, content: `${userId} secret ${i}`, embedding: unitVector(DIMS, next), metadata: {} });
      await db.upsert([mk('alice', 0), mk('alice', 1), mk('bob', 0)]);
      const bobView = await db.query((await firstPage(db, 1, 'alice-shared-0')).find((r) => r.id === 'alice-shared-1')!.embedding, { userId: 'bob', k: 10 });
      expect(bobView.every((m) => m.userId === 'bob')).toBe(true);
      // A user owning 1 record of 10k: a filtered index scan must still find it (no false "nothing found").
      expect(bobView).toHaveLength(1);
      // One user's document, whole and exact, in chunk order; the other user's same-named document apart.
      const alice = await db.documentRecords('alice', 'shared');
      expect(alice.map((r) => [r.id, r.chunkIndex, r.content])).toEqual([['alice-shared-0', 0, 'alice secret 0'], ['alice-shared-1', 1, 'alice secret 1']]);
      const scanned = (await firstPage(db, 1, 'alice-shared-0'))[0];
      expect(scanned.id).toBe('alice-shared-1');
      expect(Array.from(alice[1].embedding)).toEqual(Array.from(scanned.embedding));
      expect((await db.documentRecords('bob', 'shared')).map((r) => r.id)).toEqual(['bob-shared-0']);
      expect(await db.documentRecords('carol', 'shared')).toEqual([]);
      expect(await db.deleteByDocument('bob', 'shared')).toBe(1);
      expect(await db.count({ userId: 'alice', documentId: 'shared' })).toBe(2);
      expect(await db.count({ userId: 'bob' })).toBe(0);
      expect(await db.deleteByDocument('alice', 'shared')).toBe(2);
    });

    it('replaces by id without duplicates; stores unicode and multi-megabyte content', async () => {
      const big = '漢字 emoji 🚀 ünïcødé '.repeat(60_000); // ~1.6 MB
      const r = { ...records[0], content: big, metadata: { changed: true, n: 1.25, nil: null } };
      await db.upsert([r]);
      expect(await db.count()).toBe(10_000);
      const [back] = await firstPage(db, 1);
      expect(back.id).toBe(r.id);
      expect(back.content).toBe(big);
      expect(back.metadata).toEqual({ changed: true, n: 1.25, nil: null });
      expect(await db.existingIds([r.id, 'nope', records[5].id])).toEqual(expect.arrayContaining([r.id, records[5].id]));
      expect((await db.existingIds([r.id, 'nope'])).length).toBe(1);
      // By id, in the order asked, every field exact (1,200 ids: more than one batch of any driver)
      const asked = [records[7].id, 'nope', r.id, ...records.slice(100, 1_300).map((x) => x.id)];
      const got = await db.records(asked);
      expect(got.map((x) => x.id)).toEqual(asked.filter((id) => id !== 'nope'));
      expect(got[1].content).toBe(big);
      expect(got[1].metadata).toEqual({ changed: true, n: 1.25, nil: null });
      const want = records[7];
      expect([got[0].userId, got[0].documentId, got[0].chunkIndex, got[0].content, got[0].metadata]).toEqual([want.userId, want.documentId, want.chunkIndex, want.content, want.metadata]);
      expect(Array.from(got[0].embedding)).toEqual(Array.from(want.embedding));
      expect(Array.from(got[got.length - 1].embedding)).toEqual(Array.from(records[1_299].embedding));
      expect(await db.records([])).toEqual([]);
      await db.deleteIds([r.id]);
      expect(await db.count()).toBe(9_999);
    });

    it('insertNew writes new records exactly, and a batch holding one stored id is CONFLICT naming it, writing nothing', async () => {
      const before = await db.count();
      const fresh = records.slice(0, 3).map((r, i) => ({ ...r, id: `new-${i}`, metadata: { i } }));
      await db.insertNew(fresh);
      expect((await db.records(fresh.map((r) => r.id))).map((r) => [r.id, r.content, r.metadata, Array.from(r.embedding)])).toEqual(fresh.map((r) => [r.id, r.content, r.metadata, Array.from(r.embedding)]));
      const clash = [{ ...records[4], id: 'new-3' }, { ...records[5], id: 'new-1', content: 'must not replace' }];
      await expect(db.insertNew(clash)).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('"new-1"') });
      expect(await db.existingIds(['new-3'])).toEqual([]);
      expect((await db.records(['new-1']))[0].content).toBe(fresh[1].content);
      await db.deleteIds(fresh.map((r) => r.id));
      expect(await db.count()).toBe(before);
    });

    it('rejects bad records before writing anything', async () => {
      const before = await db.count();
      const nan = { ...records[1], id: 'bad-nan', embedding: new Float32Array(DIMS).fill(Number.NaN) };
      await expect(db.upsert([{ ...records[1], id: 'ok-1' }, nan])).rejects.toMatchObject({ code: 'BAD_INPUT' });
      await expect(db.upsert([{ ...records[1], id: 'short', embedding: new Float32Array(DIMS - 1) }])).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
      await expect(db.upsert([{ ...records[1], id: 'x', metadata: { o: { nested: 1 } as never } }])).rejects.toMatchObject({ code: 'BAD_INPUT' });
      await expect(db.query(new Float32Array(DIMS + 1), { userId: 'u', k: 1 })).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
      expect(await db.count()).toBe(before);
      expect(await db.existingIds(['ok-1', 'bad-nan'])).toEqual([]);
    });

    it('detects at start a store built with other dimensions or another model, and refuses to write into it', async () => {
      const wrongDims = h.open(DIMS * 2, 'model-a');
      await wrongDims.init();
      expect(wrongDims.mismatch()).toMatch(new RegExp(`stores ${DIMS}-dimensional vectors but VECTOR_DB_DIMENSIONS=${DIMS * 2}`));
      await expect(wrongDims.upsert(makeRecords(1, DIMS * 2, { prefix: 'w' }))).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
      await wrongDims.close();

      const otherModel = h.open(DIMS, 'model-b');
      await otherModel.init();
      expect((await otherModel.describe()).mismatch).toMatch(/built with embedding model "model-a" but the configured model is "model-b"/);
      await expect(otherModel.upsert(makeRecords(1, DIMS, { prefix: 'm' }))).rejects.toMatchObject({ code: 'MODEL_MISMATCH' });
      await expect(otherModel.query(records[2].embedding, { userId: 'user-2', k: 1 })).rejects.toMatchObject({ code: 'MODEL_MISMATCH' });
      await otherModel.close();

      const reader = h.open(DIMS, null);
      await reader.init();
      expect(reader.mismatch()).toBeNull();
      expect(await reader.count()).toBe(9_999);
      await reader.close();
      expect(await db.count()).toBe(9_999);
    });

    it('opens an existing store read-only: a missing collection is NOT_FOUND and is not created', async () => {
      const missing = h.open(DIMS, null, 'no_such_collection');
      await expect(missing.init({ createIfMissing: false })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('no_such_collection') });
      await missing.close();
      const again = h.open(DIMS, null, 'no_such_collection');
      await expect(again.init({ createIfMissing: false })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await again.close();
      const existing = h.open(DIMS, null);
      await existing.init({ createIfMissing: false });
      expect(await existing.count()).toBe(9_999);
      await existing.close();
    });


    it('opens a sibling collection with other dimensions and model beside it, and destroys it without touching the first', async () => {
      const name = `sib_${Date.now().toString(36)}`;
      const sib = db.sibling(name, DIMS + 16, 'model-next');
      await sib.init();
      expect(await sib.describe()).toMatchObject({ provider, dimensions: DIMS + 16, storedModel: 'model-next', mismatch: null });
      await sib.upsert(makeRecords(20, DIMS + 16, { seed: 31, prefix: 'g' }));
      expect(await sib.count()).toBe(20);
      expect(await db.count()).toBe(9_999);
      expect(await sib.identity()).not.toBe(await db.identity());
      await sib.destroy();
      await sib.close();
      const gone = db.sibling(name, DIMS + 16, 'model-next');
      await expect(gone.init({ createIfMissing: false })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await gone.close();
      expect(await db.count()).toBe(9_999);
    });
    /** A small collection of its own: a writer handle holding `recs`, and a source (read-only) handle on it. */
    async function pair(collection: string, recs: VectorRecord[]): Promise<{ writer: VectorDb; reader: VectorDb; close(): Promise<void> }> {
      const writer = h.open(DIMS, 'model-a', collection);
      await writer.init();
      await writer.upsert(recs);
      const reader = h.open(DIMS, null, collection);
      await reader.init({ createIfMissing: false });
      return { writer, reader, close: async () => (await reader.close(), await writer.close()) };
    }

    it('a scan never ends early: records deleted by another instance mid-scan are left out, every other one comes once, in id order', async () => {
      const recs = makeRecords(60, DIMS, { seed: 21, prefix: 's' });
      const { writer, reader, close } = await pair('scan_delete', recs);
      // One already yielded, the first of the next page, one inside it, a whole page's worth, and the last.
      const gone = [3, 10, 15, ...Array.from({ length: 10 }, (_, i) => 25 + i), 59].map((i) => recs[i].id);
      const seen: string[] = [];
      for await (const page of reader.scan(10)) {
        if (!seen.length) await writer.deleteIds(gone);
        seen.push(...ids(page));
      }
      expect(seen).toEqual(ids(recs).filter((id) => id === recs[3].id || !gone.includes(id)));
      await close();
    });

    it('a scan keeps records replaced during it and finds records added above its cursor', async () => {
      const recs = makeRecords(60, DIMS, { seed: 22, prefix: 's' });
      const { writer, reader, close } = await pair('scan_replace', recs);
      const replaced = [5, 12, 40].map((i) => ({ ...recs[i], content: `replaced ${i}`, metadata: { v: 2 } }));
      const added = { ...recs[0], id: 's-zzz-added', content: 'added after the last id' };
      const seen: VectorRecord[] = [];
      for await (const page of reader.scan(10)) {
        if (!seen.length) await writer.upsert([...replaced, added]);
        seen.push(...page);
      }
      expect(ids(seen)).toEqual([...ids(recs), added.id]);
      const byId = new Map(seen.map((r) => [r.id, r]));
      expect(byId.get(recs[5].id)!.content).toBe(recs[5].content); // yielded before it was replaced
      for (const i of [12, 40]) expect(byId.get(recs[i].id)).toMatchObject({ content: `replaced ${i}`, metadata: { v: 2 } });
      await close();
    });

    it('records replaced over and over by another instance while a scan runs are never missed', async () => {
      const recs = makeRecords(100, DIMS, { seed: 23, prefix: 'c' });
      const { writer, reader, close } = await pair('scan_churn', recs);
      let done = false;
      let rounds = 0;
      const churn = (async () => {
        while (!done) {
          rounds++;
          await writer.upsert(recs.map((r) => ({ ...r, content: `${r.content} v${rounds}` })));
        }
      })();
      const seen: string[] = [];
      try {
        for await (const page of reader.scan(7)) seen.push(...ids(page));
      } finally {
        done = true;
        await churn;
      }
      expect(rounds).toBeGreaterThan(0);
      expect(seen).toEqual(ids(recs));
      await close();
    });

    it('a source handle (createIfMissing: false) refuses every write and leaves the store as it was', async () => {
      const recs = makeRecords(5, DIMS, { seed: 24, prefix: 'ro' });
      const { reader, close } = await pair('read_only', recs);
      const readOnly = { code: 'INTERNAL', message: expect.stringContaining('read-only') };
      await expect(reader.upsert(makeRecords(1, DIMS, { prefix: 'w' }))).rejects.toMatchObject(readOnly);
      await expect(reader.deleteIds([recs[0].id])).rejects.toMatchObject(readOnly);
      await expect(reader.deleteByDocument(recs[0].userId, recs[0].documentId)).rejects.toMatchObject(readOnly);
      await expect(reader.recordModel('model-x')).rejects.toMatchObject(readOnly);
      await expect(reader.reset()).rejects.toMatchObject(readOnly);
      expect(await reader.count()).toBe(5);
      expect(ids(await scanAll(reader))).toEqual(ids(recs));
      expect(await reader.describe()).toMatchObject({ storedModel: 'model-a', count: 5 });
      await close();
    });

    it('orders ids by UTF-8 bytes, the same on every driver', async () => {
      const want = ['u-a', 'u-z', 'u-é', 'u-\uE000', 'u-😀'];
      const recs = makeRecords(want.length, DIMS, { seed: 25 }).map((r, i) => ({ ...r, id: want[i] }));
      const { reader, close } = await pair('id_order', [...recs].reverse());
      expect(ids(await scanAll(reader, 2))).toEqual(want);
      expect(ids(await scanAll(reader, 2, 'u-é'))).toEqual(['u-\uE000', 'u-😀']);
      await close();
    });

    it('validate() refuses wrong dimensions, NaN/Infinity and missing fields, naming the field', () => {
      const ok = records[1];
      const nanAt3 = Float32Array.from({ length: DIMS }, (_, i) => (i === 3 ? Number.NaN : 0.1));
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [{ embedding: new Float32Array(DIMS - 1) }, 'DIMENSION_MISMATCH', new RegExp(`${DIMS - 1} dimensions; the store has ${DIMS}`)],
        [{ embedding: new Float32Array(DIMS + 1) }, 'DIMENSION_MISMATCH', /dimensions/],
        [{ embedding: nanAt3 }, 'BAD_INPUT', /embedding\[3\] is not a finite number/],
        [{ embedding: new Float32Array(DIMS).fill(Number.POSITIVE_INFINITY) }, 'BAD_INPUT', /embedding\[0\] is not a finite number/],
        [{ embedding: new Float32Array(DIMS).fill(Number.NEGATIVE_INFINITY) }, 'BAD_INPUT', /embedding\[0\]/],
        [{ userId: undefined }, 'BAD_INPUT', /userId must be/],
        [{ userId: '' }, 'BAD_INPUT', /userId must be/],
        [{ userId: 42 }, 'BAD_INPUT', /userId must be/],
        [{ documentId: undefined }, 'BAD_INPUT', /documentId must be/],
        [{ id: '' }, 'BAD_INPUT', /id must be/],
        [{ chunkIndex: -1 }, 'BAD_INPUT', /chunkIndex/],
        [{ chunkIndex: 2 ** 31 }, 'BAD_INPUT', /chunkIndex/],
        [{ content: undefined }, 'BAD_INPUT', /content must be a string/],
        [{ metadata: { x: Number.NaN } }, 'BAD_INPUT', /metadata\.x must be finite/],
        [{ metadata: { o: { nested: 1 } } }, 'BAD_INPUT', /metadata\.o/],
      ];
      for (const [patch, code, message] of cases) {
        expect({ patch, error: thrown(() => db.validate([{ ...ok, ...patch } as VectorRecord])) }).toMatchObject({ patch, error: { code, message: expect.stringMatching(message) } });
      }
      expect(() => db.validate([ok])).not.toThrow();
    });

    it('refuses lone surrogates in every text field (no store keeps them), naming the field, writing nothing', async () => {
      const base = makeRecords(1, DIMS, { seed: 27, prefix: 'sur' })[0];
      const lone: [string, VectorRecord][] = [
        ['content', { ...base, content: 'half \ud83d pair' }],
        ['id', { ...base, id: 'sur-\ud800' }],
        ['userId', { ...base, userId: 'user\udc00' }],
        ['documentId', { ...base, documentId: 'doc\ud83d' }],
        ['metadata.note', { ...base, metadata: { note: 'a\udfff' } }],
      ];
      for (const [field, r] of lone) {
        expect(thrown(() => db.validate([r]))).toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('lone surrogate'), details: { field } });
      }
      expect(() => db.validate([{ ...base, content: 'a rocket \ud83d\ude80' }])).not.toThrow(); // a pair is fine
      await expect(db.upsert([{ ...base, id: 'sur-ok' }, lone[1][1]])).rejects.toMatchObject({ code: 'BAD_INPUT' });
      expect(await db.existingIds(['sur-ok'])).toEqual([]);
    });

    const storesNul = provider !== 'pgvector';
    it(storesNul ? 'stores NUL characters in every text field and returns them exactly' : 'refuses NUL characters it cannot store (validate and upsert), naming the field, writing nothing', async () => {
      const base = makeRecords(1, DIMS, { seed: 26, prefix: 'nul' })[0];
      const withNul: [string, VectorRecord][] = [
        ['content', { ...base, content: 'before\u0000after' }],
        ['id', { ...base, id: 'nul-\u0000-id' }],
        ['userId', { ...base, userId: 'user\u0000x' }],
        ['documentId', { ...base, documentId: 'doc\u0000x' }],
        ['metadata.note', { ...base, metadata: { note: 'a\u0000b' } }],
        ['metadata key', { ...base, metadata: { 'k\u0000': 1 } }],
      ];
      const { writer, reader, close } = await pair('nul_chars', [base]);
      if (!storesNul) {
        for (const [field, r] of withNul) {
          expect(thrown(() => writer.validate([r]))).toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('NUL'), details: { field: expect.stringContaining(field) } });
        }
        await expect(writer.upsert([{ ...base, id: 'nul-ok' }, withNul[0][1]])).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringMatching(/content contains a NUL/) });
        expect(ids(await scanAll(reader))).toEqual([base.id]);
      } else {
        const all = { ...base, id: 'nul-\u0000-all', userId: 'user\u0000x', documentId: 'doc\u0000x', content: 'before\u0000after', metadata: { note: 'a\u0000b', 'k\u0000': 1 } };
        for (const [, r] of withNul) expect(() => writer.validate([r])).not.toThrow();
        await writer.upsert([all]);
        const back = (await scanAll(reader)).find((r) => r.id === all.id)!;
        expect(back).toMatchObject({ id: all.id, userId: all.userId, documentId: all.documentId, content: all.content, metadata: all.metadata });
        expect(ids(await writer.query(all.embedding, { userId: all.userId, documentId: all.documentId, k: 5 }))).toEqual([all.id]);
        expect(ids(await writer.query(all.embedding, { userId: 'user', k: 5 }))).toEqual([]);
      }
      await close();
    });

    it('refuses collection names it cannot hold safely, naming the problem', () => {
      for (const name of ['a"b', "x'; DROP TABLE vector_embeddings; --", 'with space', 'semi;colon']) {
        expect(thrown(() => h.open(DIMS, null, name))).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining(JSON.stringify(name).slice(1, -1)) });
      }
    });

    it('identity() names the physical store: the same store reached another way is equal, another collection or store differs', async () => {
      const alias = h.openAlias(DIMS, null);
      await alias.init({ createIfMissing: false });
      expect(alias.location).not.toBe(db.location);
      expect(await alias.identity()).toBe(await db.identity());
      await alias.close();
      const other = h.open(DIMS, 'model-a', 'identity_other');
      await other.init();
      expect(await other.identity()).not.toBe(await db.identity());
      await other.close();
      if (h.openElsewhere) {
        const elsewhere = await h.openElsewhere(DIMS, 'model-a');
        await elsewhere.init();
        expect(elsewhere.collection).toBe(db.collection);
        expect(await elsewhere.identity()).not.toBe(await db.identity());
        await elsewhere.close();
      }
    });

    it('resets to new dimensions and model (re-index path)', async () => {
      const fresh = h.open(DIMS * 2, 'model-b');
      await fresh.init();
      await fresh.reset();
      expect(fresh.mismatch()).toBeNull();
      expect(await fresh.count()).toBe(0);
      await fresh.upsert(makeRecords(5, DIMS * 2, { prefix: 'n' }));
      expect(await fresh.describe()).toMatchObject({ storedDimensions: DIMS * 2, storedModel: 'model-b', count: 5 });
      await fresh.close();
    });
  });
}
