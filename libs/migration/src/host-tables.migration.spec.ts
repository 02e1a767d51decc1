import * as path from 'node:path';
import { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createRelationalDb, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import type { EntityMetadata } from 'typeorm';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { Checksum, rowHash } from './checksum';
import { openVector, profile, seedRelational, service, succeeded } from './testing/fixtures';
import { Author, Category, Comment, HOST_ENTITIES, HOST_SCALE, HostAccount, hostRowCount, Post, seedHostSchema } from './testing/host-schema';
import { relationalTables } from './table-order';

/** A host app's database handle: Switchyard's tables plus the host's entities, their tables made by synchronize. */
async function hostDb(config: RelationalDbConfig): Promise<RelationalDb> {
  const db = createRelationalDb(config, { entities: HOST_ENTITIES, synchronize: true });
  await db.init();
  return db;
}

/** Count and order-independent checksum of every table a RELATIONAL job moves, by dataset name. */
async function digest(db: RelationalDb): Promise<Record<string, { rows: number; checksum: string }>> {
  const out: Record<string, { rows: number; checksum: string }> = {};
  for (const meta of relationalTables(db)) {
    const io = db.table(meta.target);
    const sum = new Checksum();
    for await (const page of io.pages(2000)) for (const r of page) sum.add(rowHash(io, r));
    out[db.datasetName(meta.target)] = { rows: sum.count, checksum: sum.hex };
  }
  return out;
}

const names = (metas: EntityMetadata[]) => metas.map((m) => m.tableName);

describe("a host app's whole database: SQLite -> PostgreSQL -> SQLite (real servers)", () => {
  const dir = freshDir('sy-host-');
  const unusedVectors: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('unused-vectors.sqlite'), dimensions: 4, collection: 'unused' };
  const first: RelationalDbConfig = { provider: 'sqlite', database: dir.file('host.sqlite'), logging: false };
  const last: RelationalDbConfig = { provider: 'sqlite', database: dir.file('back.sqlite'), logging: false };
  let pgConfig: RelationalDbConfig;
  let pgDrop: () => Promise<void>;
  let original: Record<string, { rows: number; checksum: string }>;
  const vectors: VectorDb[] = [];

  beforeAll(async () => {
    const server = await freshPostgres('hostrt');
    pgDrop = server.drop;
    pgConfig = { provider: 'postgres', logging: false, ...server.connection };
    const db = await hostDb(first);
    try {
      await seedRelational(db, 50, 300);
      await seedHostSchema(db);
      original = await digest(db);
    } finally {
      await db.close();
    }
  });

  afterAll(async () => {
    for (const v of vectors) await v.close();
    await pgDrop?.();
    dir.remove();
  });

  async function migrate(target: RelationalDbConfig, source: RelationalDbConfig, tag: string) {
    const db = await hostDb(target);
    const vec = await openVector({ provider: 'sqlite-vec', path: dir.file(`${tag}-vectors.sqlite`), dimensions: 4, collection: 'v' }, 'm');
    vectors.push(vec);
    const svc = service({ target: { relational: db, vector: vec }, profiles: { source: profile('source', source, unusedVectors) }, dataDir: path.join(dir.dir, `data-${tag}`), defaultBatchSize: 1000 });
    const t0 = Date.now();
    const job = await succeeded(svc, svc.start({ kind: 'RELATIONAL' }));
    const ms = Date.now() - t0;
    await svc.close();
    return { db, job, ms };
  }

  it('orders the tables parents first: FK chain, join table after both sides, own tables first', () => {
    return (async () => {
      const db = await hostDb(first);
      try {
        const order = names(relationalTables(db));
        expect(order.slice(0, 2)).toEqual(['switchyard_users', 'switchyard_documents']);
        expect(order).toHaveLength(2 + HOST_ENTITIES.length + 1); // + post_tags
        for (const [parent, child] of [
          ['authors', 'posts'],
          ['posts', 'comments'],
          ['categories', 'posts'],
          ['posts', 'post_tags'],
          ['tags', 'post_tags'],
          ['posts', 'post_revisions'],
        ]) {
          expect(order.indexOf(parent)).toBeLessThan(order.indexOf(child));
        }
        expect(order).not.toContain('switchyard_migration_jobs');
        expect(names(relationalTables(db, { exclude: ['comments', 'post_revisions'] }))).not.toContain('comments');
        expect(() => relationalTables(db, { include: ['nope'] })).toThrow(/no table named "nope".*known: .*users.*post_tags/);
      } finally {
        await db.close();
      }
    })();
  });

  it('moves every table to PostgreSQL and back, verified per table; every checksum equals the original', async () => {
    const there = await migrate(pgConfig, first, 'pg');
    try {
      const tables = there.job.verification!.tables;
      expect(tables.map((t) => t.name).sort()).toEqual(Object.keys(original).sort());
      for (const t of tables) expect([t.name, t.targetCount, t.checksumMatch]).toEqual([t.name, original[t.name].rows, true]);
      expect(await digest(there.db)).toEqual(original);
      // The sequences moved past the copied ids: a plain save() gets a new id instead of colliding.
      const author = await there.db.repository(Author).save({ name: 'new after migration', active: true, born: null, profile: null });
      expect(author.id).toBe(HOST_SCALE.authors + 1);
      const account = await there.db.repository(HostAccount).save({ email: 'new@example.com', admin: false });
      expect(account.id).toBe(HOST_SCALE.accounts + 1);
      const comment = await there.db.repository(Comment).save({ post: { id: '00000000-0000-4000-8000-000000000001' } as Post, text: 'new', likes: 0 });
      expect(comment.id).toBe(HOST_SCALE.comments + 1);
      // Self-references set after the copy: a category whose parent has a higher id kept it.
      const withLaterParent = (await there.db.repository(Category).find({ relations: { parent: true } })).filter((c) => c.parent && c.parent.id > c.id);
      expect(withLaterParent.length).toBeGreaterThan(10);
      // The 2 MB body and bytes arrived intact.
      const big = await there.db.repository(Post).findOneByOrFail({ id: '00000000-0000-4000-8000-000000000004' });
      expect(big.body.length).toBe(2 * 1024 * 1024);
      console.log(`host schema SQLite -> PostgreSQL: ${hostRowCount(HOST_SCALE) + 350} rows in ${there.ms} ms (incl. verification)`);
      await there.db.repository(Author).delete({ id: author.id });
      await there.db.repository(HostAccount).delete({ id: account.id });
      await there.db.repository(Comment).delete({ id: comment.id });
    } finally {
      await there.db.close();
    }

    const back = await migrate(last, pgConfig, 'back');
    try {
      expect(back.job.verification!.tables.every((t) => t.checksumMatch)).toBe(true);
      expect(await digest(back.db)).toEqual(original);
      const author = await back.db.repository(Author).save({ name: 'new in SQLite', active: false, born: '2000-01-01', profile: { a: 1 } });
      expect(author.id).toBe(HOST_SCALE.authors + 1);
      console.log(`host schema PostgreSQL -> SQLite: ${hostRowCount(HOST_SCALE) + 350} rows in ${back.ms} ms (incl. verification)`);
    } finally {
      await back.db.close();
    }
  });

  it('a self-reference to a row of a later batch: written without it, set once the table is in (tables.include, small batches)', async () => {
    const pg = await freshPostgres('hostself');
    const target = await hostDb({ provider: 'postgres', logging: false, ...pg.connection });
    const vec = await openVector({ provider: 'sqlite-vec', path: dir.file('self-vectors.sqlite'), dimensions: 4, collection: 'v' }, 'm');
    vectors.push(vec);
    const svc = service({ target: { relational: target, vector: vec }, profiles: { source: profile('source', first, unusedVectors) }, dataDir: path.join(dir.dir, 'data-self') });
    try {
      const job = await succeeded(svc, svc.start({ kind: 'RELATIONAL', batchSize: 50, tables: { include: ['categories'] } }));
      expect(job.verification!.tables.map((t) => [t.name, t.targetCount, t.checksumMatch])).toEqual([['categories', HOST_SCALE.categories, true]]);
      expect(await target.repository(Author).count()).toBe(0);
      const later = (await target.repository(Category).find({ relations: { parent: true } })).filter((c) => c.parent && c.parent.id > c.id + 50);
      expect(later.length).toBeGreaterThan(10);
    } finally {
      await svc.close();
      await target.close();
      await pg.drop();
    }
  });

  it('a target without the host tables is refused before any write, naming them', async () => {
    const bare = createRelationalDb({ provider: 'sqlite', database: dir.file('bare.sqlite'), logging: false }, { entities: HOST_ENTITIES });
    await bare.init();
    const vec = await openVector({ provider: 'sqlite-vec', path: dir.file('bare-vectors.sqlite'), dimensions: 4, collection: 'v' }, 'm');
    vectors.push(vec);
    const svc = service({ target: { relational: bare, vector: vec }, profiles: { source: profile('source', first, unusedVectors) }, dataDir: path.join(dir.dir, 'data-bare') });
    try {
      await expect(svc.start({ kind: 'RELATIONAL' })).rejects.toMatchObject({ code: 'MIGRATION_STATE', message: expect.stringMatching(/has no table "authors", "categories", .*Nothing was written/) });
      expect(await bare.repository(UserEntity).count()).toBe(0);
    } finally {
      await svc.close();
      await bare.close();
    }
  });

  it('a row whose parent is missing is set aside with the foreign key named, not a failed batch', async () => {
    const broken = { provider: 'sqlite', database: dir.file('broken.sqlite'), logging: false } as const;
    const db = await hostDb(broken);
    try {
      await seedHostSchema(db, { ...HOST_SCALE, accounts: 1, authors: 20, categories: 5, tags: 5, posts: 30, comments: 10, revisions: 3 });
      await db.dataSource.query('PRAGMA foreign_keys = OFF');
      await db.dataSource.query("INSERT INTO comments (id, post_id, text, likes) VALUES (999, '00000000-0000-4000-8000-00000000ffff', 'orphan', 0)");
      await db.dataSource.query('PRAGMA foreign_keys = ON');
    } finally {
      await db.close();
    }
    const pg = await freshPostgres('hostfk');
    const target = await hostDb({ provider: 'postgres', logging: false, ...pg.connection });
    const vec = await openVector({ provider: 'sqlite-vec', path: dir.file('fk-vectors.sqlite'), dimensions: 4, collection: 'v' }, 'm');
    vectors.push(vec);
    const svc = service({ target: { relational: target, vector: vec }, profiles: { source: profile('source', broken, unusedVectors) }, dataDir: path.join(dir.dir, 'data-fk') });
    try {
      const plan = await succeeded(svc, svc.start({ kind: 'RELATIONAL', dryRun: true }));
      expect(plan.plan!.steps.find((s) => s.name === 'comments')).toMatchObject({ invalid: 1, invalidExamples: [{ id: '999', reason: expect.stringMatching(/posts "00000000-0000-4000-8000-00000000ffff" \(post_id\) does not exist/) }] });
      const job = await svc.waitFor((await svc.start({ kind: 'RELATIONAL' })).id);
      expect(job.status).toBe('SUCCEEDED_WITH_REJECTS');
      expect(job.verification?.ok).toBe(true);
      expect(await target.repository(Comment).count()).toBe(10);
    } finally {
      await svc.close();
      await target.close();
      await pg.drop();
    }
  });
});
