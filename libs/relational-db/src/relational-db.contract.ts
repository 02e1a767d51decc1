import { RelationalProvider } from '@switchyard/core';
import { DocumentEntity, UserEntity } from './entities';
import { RelationalDb, RelationalDbOptions } from './relational-db.port';
import { DocumentsRepository } from './repositories/documents.repository';
import { UsersRepository } from './repositories/users.repository';

export interface RelationalHarness {
  db: RelationalDb;
  /** Builds a second, not yet initialised, handle on the same database (reopen after close, read-only). */
  reopen(options?: RelationalDbOptions): RelationalDb;
  /** A not yet initialised handle on the same database under another name (SQLite: a symlink; PostgreSQL: another host name). */
  alias(): RelationalDb;
  /** Another database of the same provider, not yet initialised. */
  other(): Promise<{ db: RelationalDb; cleanup(): Promise<void> }>;
  cleanup(): Promise<void>;
}

function doc(i: number, over: Partial<DocumentEntity> = {}): DocumentEntity {
  return Object.assign(new DocumentEntity(), {
    id: `doc-${String(i).padStart(6, '0')}`,
    userId: `user-${i % 7}`,
    externalId: `ext-${i}`,
    title: i % 5 === 0 ? null : `Title ${i} — ünïcødé 🚀`,
    content: `content ${i} `.repeat(3),
    contentBytes: 10,
    chunkCount: i % 4,
    metadata: i % 3 === 0 ? null : { n: i, f: i / 3, ok: i % 2 === 0, tags: ['a', 'b'], nested: { s: 'x' } },
    embeddingModel: i % 2 ? 'model-a' : null,
    indexedAt: i % 2 ? new Date(Date.UTC(2025, 0, 1, 12, 0, 0, i % 1000)) : null,
    createdAt: new Date(Date.UTC(2024, 5, 1, 8, 30, 15, 123)),
    updatedAt: new Date(Date.UTC(2024, 5, 2, 8, 30, 15, 456)),
    ...over,
  });
}

/** The same assertions for every RelationalDb driver, against a real database. */
export function runRelationalDbContract(provider: RelationalProvider, make: () => Promise<RelationalHarness>): void {
  describe(`RelationalDb contract: ${provider}`, () => {
    let h: RelationalHarness;
    let docs: DocumentsRepository;
    let users: UsersRepository;

    beforeAll(async () => {
      h = await make();
      await h.db.init();
      docs = new DocumentsRepository(h.db);
      users = new UsersRepository(h.db);
    });
    afterAll(async () => {
      await h?.db.close();
      await h?.cleanup();
    });

    it('identifies itself and answers ping', async () => {
      expect(h.db.provider).toBe(provider);
      expect(h.db.label).not.toMatch(/password/i);
      await expect(h.db.ping()).resolves.toBe(true);
    });

    it('migrations leave no difference between entities and schema', async () => {
      await expect(h.db.pendingSchemaChanges()).resolves.toEqual([]);
    });

    it('init is idempotent on an existing schema (restart)', async () => {
      const again = h.reopen();
      await again.init();
      await expect(again.pendingSchemaChanges()).resolves.toEqual([]);
      await again.close();
    });

    it('stores documents with unicode, multi-megabyte text, JSON of several types, nulls and dates', async () => {
      await users.ensure('alice', ['admin']);
      await users.ensure('alice', ['ignored-second-time']);
      const big = 'Ωmega ✓ 漢字 🚀 '.repeat(200_000); // ~4 MB UTF-8
      const meta = { int: 42, float: 1.5, bool: false, nil: null, str: 'naïve "quotes" \\ back', arr: [1, 'two', true], obj: { deep: { x: -0.25 } } };
      const saved = await docs.save({ userId: 'alice', externalId: 'd1', title: 'Ünïcode — title', content: big, metadata: meta });
      expect(saved.contentBytes).toBe(Buffer.byteLength(big, 'utf8'));
      const back = await docs.findOne('alice', 'd1');
      expect(back?.content).toBe(big);
      expect(back?.title).toBe('Ünïcode — title');
      expect(back?.metadata).toEqual(meta);
      expect(back?.createdAt).toBeInstanceOf(Date);
      expect(back?.indexedAt).toBeNull();
      const u = await h.db.repository(UserEntity).findOneByOrFail({ id: 'alice' });
      expect(u.roles).toEqual(['admin']);
      expect(u.active).toBe(true);
    });

    it('scopes external ids per user and replaces text on save, keeping the internal id', async () => {
      const a = await docs.save({ userId: 'u1', externalId: 'same', content: 'one' });
      const b = await docs.save({ userId: 'u2', externalId: 'same', content: 'two' });
      expect(a.id).not.toBe(b.id);
      const a2 = await docs.save({ userId: 'u1', externalId: 'same', content: 'one, again' });
      expect(a2.id).toBe(a.id);
      expect((await docs.findOne('u1', 'same'))?.content).toBe('one, again');
      expect((await docs.findOne('u2', 'same'))?.content).toBe('two');
      await docs.markIndexed(a.id, 3, 'm');
      const marked = await docs.findOne('u1', 'same');
      expect(marked?.chunkCount).toBe(3);
      expect(marked?.indexedAt).toBeInstanceOf(Date);
      expect(await docs.delete('u2', 'same')).toBe(true);
      expect(await docs.delete('u2', 'same')).toBe(false);
      expect(await docs.findOne('u1', 'same')).not.toBeNull();
      expect((await docs.listByUser('u1')).map((d) => d.externalId)).toEqual(['same']);
    });

    it('bulk-inserts 10k rows exactly, and honours the conflict policy', async () => {
      const repo = h.db.repository(DocumentEntity);
      await h.db.truncate(DocumentEntity);
      const rows = Array.from({ length: 10_000 }, (_, i) => doc(i));
      await h.db.insertRows(DocumentEntity, rows, 'error');
      expect(await repo.count()).toBe(10_000);
      const sample = await repo.findOneByOrFail({ id: 'doc-000007' });
      const expected = doc(7);
      expect(sample.metadata).toEqual(expected.metadata);
      expect(sample.title).toBe(expected.title);
      expect(sample.indexedAt?.toISOString()).toBe(expected.indexedAt?.toISOString());
      expect(sample.createdAt.toISOString()).toBe(expected.createdAt.toISOString());
      expect((await repo.findOneByOrFail({ id: 'doc-000005' })).title).toBeNull();

      await expect(h.db.insertRows(DocumentEntity, [doc(1)], 'error')).rejects.toThrow();
      expect(await repo.count()).toBe(10_000);
      // all or nothing: new rows before and after the duplicate are not kept either
      await expect(h.db.insertRows(DocumentEntity, [doc(30_000), doc(2), doc(30_001)], 'error')).rejects.toThrow();
      expect(await repo.count()).toBe(10_000);
      await h.db.insertRows(DocumentEntity, [doc(1, { content: 'changed' }), doc(20_000)], 'skip');
      expect((await repo.findOneByOrFail({ id: 'doc-000001' })).content).not.toBe('changed');
      expect(await repo.count()).toBe(10_001);
      await h.db.insertRows(DocumentEntity, [doc(1, { content: 'changed' })], 'overwrite');
      expect((await repo.findOneByOrFail({ id: 'doc-000001' })).content).toBe('changed');
      expect(await repo.count()).toBe(10_001);
    });

    it('pages through every row once, in stable order, resuming after a cursor', async () => {
      const seen: string[] = [];
      for await (const page of docs.pages(999)) seen.push(...page.map((d) => d.id));
      expect(seen.length).toBe(10_001);
      expect(new Set(seen).size).toBe(10_001);
      const rest: string[] = [];
      for await (const page of docs.pages(500, seen[4999])) rest.push(...page.map((d) => d.id));
      expect(rest).toEqual(seen.slice(5000));
    });

    it('cuts an entity into key ranges (splitPoints) that bounded pages read back: every row once, in order', async () => {
      const seen: string[] = [];
      for await (const page of h.db.pages(DocumentEntity, 1000)) seen.push(...page.map((d) => d.id));
      const points = await h.db.splitPoints(DocumentEntity, 3000);
      expect(points).toEqual([seen[2999], seen[5999], seen[8999]]);
      expect(await h.db.splitPoints(DocumentEntity, 10_001)).toEqual([seen[10_000]]);
      expect(await h.db.splitPoints(DocumentEntity, 10_002)).toEqual([]);
      const ranged: string[] = [];
      for (const [i, after] of [undefined, ...points].entries()) {
        const part: string[] = [];
        for await (const page of h.db.pages(DocumentEntity, 700, after, points[i])) part.push(...page.map((d) => d.id));
        if (points[i] !== undefined) expect(part[part.length - 1]).toBe(points[i]);
        ranged.push(...part);
      }
      expect(ranged).toEqual(seen);
    });

    it('snapshots a table and restores it', async () => {
      const repo = h.db.repository(DocumentEntity);
      await h.db.snapshotTable(h.db.metadata(DocumentEntity).tableName, 'documents_backup_test');
      await h.db.truncate(DocumentEntity);
      expect(await repo.count()).toBe(0);
      await h.db.restoreSnapshot(h.db.metadata(DocumentEntity).tableName, 'documents_backup_test');
      expect(await repo.count()).toBe(10_001);
      expect((await repo.findOneByOrFail({ id: 'doc-000007' })).metadata).toEqual(doc(7).metadata);
    });

    it('opened read-only: reads, migrates nothing, and every write fails', async () => {
      const ro = h.reopen({ readOnly: true });
      await ro.init();
      const refused = /read-only transaction|readonly database/;
      try {
        await expect(ro.repository(DocumentEntity).count()).resolves.toBe(await h.db.repository(DocumentEntity).count());
        await expect(ro.pendingSchemaChanges()).resolves.toEqual([]);
        await expect(ro.repository(UserEntity).insert({ id: 'ro-write', roles: null, active: true })).rejects.toThrow(refused);
        await expect(ro.insertRows(DocumentEntity, [doc(900_000)], 'error')).rejects.toThrow(refused);
        await expect(ro.truncate(DocumentEntity)).rejects.toThrow(refused);
        await expect(ro.snapshotTable(ro.metadata(DocumentEntity).tableName, 'documents_ro_snapshot')).rejects.toThrow(refused);
        expect(ro.readOnly).toBe(true);
      } finally {
        await ro.close();
      }
      await expect(h.db.repository(UserEntity).countBy({ id: 'ro-write' })).resolves.toBe(0);
      await expect(h.db.repository(DocumentEntity).count()).resolves.toBe(10_001);
    });

    it('knows which physical database it is: the same under another name, another for another database', async () => {
      const id = await h.db.identity();
      expect(id.startsWith(`${provider}:`)).toBe(true);
      const alias = h.alias();
      const again = h.reopen({ readOnly: true });
      const other = await h.other();
      try {
        for (const db of [alias, again, other.db]) await db.init();
        expect(alias.label).not.toBe(h.db.label);
        await expect(alias.identity()).resolves.toBe(id);
        await expect(again.identity()).resolves.toBe(id);
        await expect(other.db.identity()).resolves.not.toBe(id);
      } finally {
        for (const db of [alias, again, other.db]) await db.close();
        await other.cleanup();
      }
    });
  });
}
