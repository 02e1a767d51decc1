import { HashEmbeddings } from '../../embeddings/src/testing/hash-embeddings';
import * as path from 'node:path';
import { errorMessage, RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { createChunker, KnowledgeService } from '@switchyard/knowledge';
import { createLlm } from '@switchyard/llm';
import { VectorDb } from '@switchyard/vector-db';
import { ChangeCapture, createRelationalDb, datasetNameOf, DocumentEntity, DocumentsRepository, RelationalDb, UserEntity, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { Client } from 'pg';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { openRelational, openVector, profile, service } from './testing/fixtures';
import { HOST_ENTITIES, HostScale, seedHostSchema } from './testing/host-schema';

/*
 * Review tests of the live RELATIONAL migration (change capture, freeze, cutover). Each one states the
 * contract it checks; a failure here is a finding.
 */

/** A host table keyed by a bigint (snowflake ids). */
@Entity('big_keyed')
class BigKeyed {
  @PrimaryColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'text' })
  v: string;
}

const pgUrl = (c: { host: string; port: number; database: string; username?: string; password?: string }) =>
  `postgres://${encodeURIComponent(c.username ?? '')}:${encodeURIComponent(c.password ?? '')}@${c.host}:${c.port}/${c.database}`;

describe('review: ChangeCapture on PostgreSQL', () => {
  let drop: () => Promise<void>;
  let config: RelationalDbConfig;
  let url: string;
  let db: RelationalDb;
  let capture: ChangeCapture;

  beforeAll(async () => {
    const pg = await freshPostgres('revcc');
    drop = pg.drop;
    config = { provider: 'postgres', logging: false, ...pg.connection };
    url = pgUrl(pg.connection);
    db = await openRelational(config);
  });

  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  beforeEach(async () => {
    capture = new ChangeCapture(
      db,
      [UserEntity, DocumentEntity].map((e) => ({ meta: db.metadata(e), name: datasetNameOf(db.metadata(e)) })),
      'races-job',
    );
    await capture.unfreeze();
    await capture.remove(false);
    await db.dataSource.query(`DELETE FROM ${db.metadata(DocumentEntity).tableName}`);
    await db.dataSource.query(`DELETE FROM ${db.metadata(UserEntity).tableName}`);
    await capture.install();
  });

  const usersTable = () => db.metadata(UserEntity).tableName;

  it('a REPEATABLE READ transaction that began before the freeze cannot write after freeze() returned', async () => {
    const app = new Client({ connectionString: url });
    await app.connect();
    try {
      await app.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await app.query(`SELECT COUNT(*) FROM ${usersTable()}`); // the snapshot is taken here, before the freeze
      await capture.freeze('job-rr');
      expect(await capture.frozen()).toBe(true);
      let outcome: string;
      try {
        await app.query(`INSERT INTO ${usersTable()} (id, active, created_at) VALUES ('rr-after-freeze', true, now())`);
        await app.query('COMMIT');
        outcome = 'accepted';
      } catch (e) {
        await app.query('ROLLBACK').catch(() => undefined);
        outcome = `refused: ${errorMessage(e)}`;
      }
      const [{ n }] = await db.dataSource.query(`SELECT COUNT(*)::int AS n FROM ${usersTable()} WHERE id = 'rr-after-freeze'`);
      console.log(`RR write after freeze: ${outcome}; row in the frozen source: ${n}`);
      expect(outcome).toMatch(/^refused: .*MAINTENANCE/);
      expect(n).toBe(0);
    } finally {
      await app.end();
    }
  });

  it('cutover (remove(true)) never lets a write through: the source stays frozen all the way', async () => {
    await capture.freeze('job-cut');
    const app = new Client({ connectionString: url });
    await app.connect();
    let stop = false;
    const accepted: string[] = [];
    let refused = 0;
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        try {
          await app.query(`INSERT INTO ${usersTable()} (id, active, created_at) VALUES ($1, true, now())`, [`cut-${i}`]);
          accepted.push(`cut-${i}`);
        } catch {
          refused++;
        }
      }
    })();
    try {
      await new Promise((r) => setTimeout(r, 100)); // the writer is being refused by the freeze
      for (let round = 0; round < 5 && !accepted.length; round++) {
        await capture.remove(true); // what LiveSync.cutOver does after a verified cutover
        expect(await capture.frozen()).toBe(true);
        await capture.install(); // back to capturing (a second cutover of the same source) for another try
      }
    } finally {
      stop = true;
      await writer;
      await app.end();
    }
    console.log(`cutover window: ${accepted.length} write(s) accepted while frozen (${refused} refused): ${accepted.slice(0, 5).join(', ')}`);
    expect(refused).toBeGreaterThan(0);
    expect(accepted).toEqual([]);
  });

  it('a captured key of a bigint column keeps every digit (a snowflake id above 2^53)', async () => {
    await capture.remove(false);
    const host = createRelationalDb(config, { entities: [BigKeyed], synchronize: true });
    await host.init();
    try {
      const meta = host.metadata(BigKeyed);
      const cap = new ChangeCapture(host, [{ meta, name: datasetNameOf(meta) }], 'bigkey-job');
      await cap.install();
      await host.dataSource.query(`INSERT INTO big_keyed (id, v) VALUES ('1801234567890123457', 'a'), ('1801234567890123456', 'b')`);
      const keys = (await cap.pending(10)).map((c) => String(c.key[0]));
      // What LiveSync.apply then does with it: looks the row up by that key.
      const found = await host.table(BigKeyed).lookup(host.table(BigKeyed).key, (await cap.pending(10)).map((c) => c.key));
      console.log(`captured keys ${JSON.stringify(keys)}; rows found by them: ${JSON.stringify(found.map((r) => r.id))}`);
      await cap.remove(false);
      expect(keys).toEqual(['1801234567890123457', '1801234567890123456']);
    } finally {
      await host.close();
    }
  });
});


describe('review: a live migration of a host schema (SQLite -> PostgreSQL, real servers)', () => {
  const dir = freshDir('sy-rev-live-');
  const unusedVectors: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('unused-vectors.sqlite'), dimensions: 4, collection: 'unused' };
  const sourceConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('host-live.sqlite'), logging: false };
  let drop: () => Promise<void>;
  let target: RelationalDb;
  let vec: VectorDb;
  const SCALE: HostScale = { accounts: 20, authors: 100, categories: 60, tags: 30, posts: 1500, tagsPerPost: 2, comments: 2000, revisions: 300 };

  beforeAll(async () => {
    const pg = await freshPostgres('revlive');
    drop = pg.drop;
    const src = createRelationalDb(sourceConfig, { entities: HOST_ENTITIES, synchronize: true });
    await src.init();
    await seedHostSchema(src, SCALE);
    await src.close();
    target = createRelationalDb({ provider: 'postgres', logging: false, ...pg.connection }, { entities: HOST_ENTITIES, synchronize: true });
    await target.init();
    vec = await openVector({ provider: 'sqlite-vec', path: dir.file('t-vectors.sqlite'), dimensions: 4, collection: 'v' }, 'm');
  });

  afterAll(async () => {
    await vec?.close();
    await target?.close();
    await drop?.();
    dir.remove();
  });

  it('catch-up copes with a row whose current parent was inserted after its first change (self-referencing categories)', async () => {
    const svc = service({ target: { relational: target, vector: vec }, profiles: { source: profile('source', sourceConfig, unusedVectors) }, dataDir: path.join(dir.dir, 'data'), defaultBatchSize: 100 });
    const app = createRelationalDb(sourceConfig, { entities: HOST_ENTITIES });
    await app.connect();
    try {
      const started = await svc.start({ kind: 'RELATIONAL', live: true, throttleMs: 40 });
      // Once the categories are copied (the job still copies the rest), the app writes, in this order:
      // category 1 renamed; 600 comments liked (1200 captured keys: more than a catch-up page); a new
      // category; category 1 moved under it. Every write is valid in the source.
      await new Promise<void>((resolve, reject) => {
        const off = svc.subscribe(started.id, (j) => {
          if (j.status !== 'RUNNING') {
            off();
            reject(new Error(`job ended before the writes: ${j.status} ${j.error}`));
          } else if (j.progress?.steps.find((s) => s.name === 'categories')?.finished) {
            off();
            resolve();
          }
        });
      });
      await app.dataSource.transaction(async (em) => {
        await em.query(`UPDATE categories SET name = name || ' renamed' WHERE id = 1`);
        await em.query(`UPDATE comments SET likes = likes + 1 WHERE id <= 600`);
        await em.query(`INSERT INTO categories (id, name, parent_id) VALUES (9999, 'late parent', NULL)`);
        await em.query(`UPDATE categories SET parent_id = 9999 WHERE id = 1`);
      });
      const job = await svc.waitFor(started.id);
      console.log(`host live job: ${job.status} ${job.errorCode ?? ''} ${job.error ?? ''} live=${JSON.stringify(job.progress?.live)}`);
      expect([job.status, job.error]).toEqual(['CUT_OVER', null]);
      const [row] = await target.dataSource.query('SELECT parent_id FROM categories WHERE id = 1');
      expect(row.parent_id).toBe(9999);
    } finally {
      await svc.close();
      await app.close();
    }
  });
});

describe('review: REINDEX while the app re-indexes one document (SQLite + sqlite-vec, real stores)', () => {
  const dir = freshDir('sy-rev-reidx-');
  const OPTIONS = { chunkSize: 200, chunkOverlap: 30, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3 };
  const chunk = createChunker(OPTIONS);
  const embeddings = new HashEmbeddings();
  const relConfig: RelationalDbConfig = { provider: 'sqlite', database: dir.file('app.sqlite'), logging: false };
  const vecConfig: VectorDbConfig = { provider: 'sqlite-vec', path: dir.file('app-vectors.sqlite'), dimensions: 32, collection: 'vector_embeddings' };
  let rel: RelationalDb;
  let appRel: RelationalDb;
  let vec: VectorDb;
  let appVec: VectorDb;

  beforeAll(async () => {
    rel = await openRelational(relConfig);
    appRel = await openRelational(relConfig);
    vec = await openVector(vecConfig, embeddings.model);
    appVec = await openVector(vecConfig, embeddings.model);
  });

  afterAll(async () => {
    for (const c of [vec, appVec, rel, appRel]) await c?.close().catch(() => undefined);
    dir.remove();
  });

  it("a document re-indexed by the app while the job works on it ends with the chunks of the app's text", async () => {
    const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
    const app = new KnowledgeService(new DocumentsRepository(appRel), new UsersRepository(appRel), appVec, embeddings, llm, OPTIONS, new VectorFreezeRepository(appRel));
    await app.indexDocument('u1', { documentId: 'doc-1', content: 'OLD text of the document about airplanes.' });
    // The app's write is slow to store its chunks (a busy vector store): it is paused right after them.
    const realUpsert = appVec.upsert.bind(appVec);
    let reached!: () => void;
    const stored = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    appVec.upsert = async (records) => {
      await realUpsert(records);
      reached();
      await gate;
    };
    const write = app.indexDocument('u1', { documentId: 'doc-1', content: 'NEW text of the document about boats.' });
    await stored; // under the document's lock: version raised (beginWrite), NEW chunks stored, row not saved yet
    const svc = service({ target: { relational: rel, vector: vec }, embeddings, profiles: {}, dataDir: path.join(dir.dir, 'data'), chunk, defaultBatchSize: 10 });
    const started = await svc.start({ kind: 'REINDEX', onConflict: 'OVERWRITE' });
    // The app's write goes on a moment later (the job must not mark the document done meanwhile).
    setTimeout(release, 800);
    const job = await svc.waitFor(started.id);
    await svc.close();
    await write;
    appVec.upsert = realUpsert;

    const doc = await new DocumentsRepository(rel).findOne('u1', 'doc-1');
    const chunks: string[] = [];
    for await (const page of vec.scan(100)) for (const r of page) if (r.documentId === 'doc-1') chunks.push(r.content);
    console.log(`REINDEX ${job.status}; document row: "${doc?.content}" (version ${doc?.version}); its chunks: ${JSON.stringify(chunks)}`);
    expect(job.status).toBe('SUCCEEDED');
    expect(chunks).toEqual(await chunk(doc!.content));
  });
});
