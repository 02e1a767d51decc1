import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { EmbeddingModels, XenovaEmbeddings } from '@switchyard/embeddings';
import { createChunker, KnowledgeService, ModelGenerations } from '@switchyard/knowledge';
import { createLlm } from '@switchyard/llm';
import { DocumentEntity, DocumentsRepository, RelationalDb, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { VectorDb } from '@switchyard/vector-db';
import { Client } from 'pg';
import { freshDir, freshPostgres, serviceEnv } from '../../../test/support/services';
import { MigrationService } from './migration.service';
import { openRelational, openVector, service } from './testing/fixtures';

const OPTIONS = { chunkSize: 120, chunkOverlap: 0, maxDocumentBytes: 100_000, maxSearchLimit: 20, minScore: 0.2, answerContextChunks: 3, generationPollMs: 100 };
const GENERATIONS = 'switchyard_embedding_generations';
const text = (i: number) => Array.from({ length: 3 }, (_, p) => `Note ${i} part ${p}: the keeper ${i * 11 + p} lit the lamp.`).join('\n\n');

/**
 * The operator's side of a model switch, one refusal at a time, and the races around it, on real
 * PostgreSQL + pgvector with the two real test models (32 and 48 dims). Races are made by the real
 * server: a second connection holds a generation's row lock while a flip waits for it.
 */
describe('Model switch operations: refusals, dual writes and races (real PostgreSQL + pgvector)', () => {
  const dir = freshDir('sy-switch-');
  const small = new XenovaEmbeddings({ model: 'ignored', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), batchSize: 64 });
  const wide = new XenovaEmbeddings({ model: 'ignored', modelPath: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH_ALT'), batchSize: 64 });
  const llm = createLlm({ provider: 'ollama', url: 'http://127.0.0.1:1', model: 'm', timeoutMs: 500 });
  const open: { close(): Promise<unknown> }[] = [];
  let pg: Awaited<ReturnType<typeof freshPostgres>>;
  let rel: RelationalDb;
  let vec: VectorDb;
  let generations: ModelGenerations;
  let svc: KnowledgeService;
  let migrations: MigrationService;
  let sql: Client;

  /** An app instance on its own connections, loading `models`. */
  async function instance(models: EmbeddingModels): Promise<{ svc: KnowledgeService; generations: ModelGenerations; rel: RelationalDb; vec: VectorDb }> {
    const r = await openRelational({ provider: 'postgres', logging: false, ...pg.connection });
    const v = await openVector({ provider: 'pgvector', connection: pg.connection, dimensions: 32, collection: 'chunks' }, small.model);
    open.push(r, v);
    const g = new ModelGenerations(r, v, models, OPTIONS.generationPollMs);
    const s = new KnowledgeService(new DocumentsRepository(r), new UsersRepository(r), v, small, llm, OPTIONS, new VectorFreezeRepository(r), g);
    return { svc: s, generations: g, rel: r, vec: v };
  }

  /** Whether a collection still exists (opened without creating it). */
  async function exists(collection: string, dims: number, model: string): Promise<boolean> {
    const s = vec.sibling(collection, dims, model);
    try {
      await s.init({ createIfMissing: false });
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'NOT_FOUND') return false;
      throw e;
    } finally {
      await s.close();
    }
  }

  beforeAll(async () => {
    pg = await freshPostgres('switch');
    await small.init();
    await wide.init();
    const app = await instance(new EmbeddingModels(small, wide));
    ({ svc, generations, rel, vec } = app);
    await svc.onModuleInit();
    open.push({ close: () => svc.onModuleDestroy() });
    for (let i = 0; i < 30; i++) await svc.indexDocument(`user-${i % 3}`, { documentId: `doc-${i}`, content: text(i) });
    migrations = service({ target: { relational: rel, vector: vec }, embeddings: small, generations, profiles: {}, dataDir: path.join(dir.dir, 'data'), chunk: createChunker(OPTIONS), defaultBatchSize: 10 });
    sql = new Client(pg.url);
    await sql.connect();
  }, 120_000);

  afterAll(async () => {
    await sql?.end();
    for (const c of open.reverse()) await c.close().catch(() => undefined);
    await small.close();
    await wide.close();
    await pg?.drop();
    dir.remove();
  });

  it('refuses a BLUE_GREEN re-index it cannot honour, before recording anything', async () => {
    await expect(migrations.start({ kind: 'REINDEX', mode: 'BLUE_GREEN', dryRun: true })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('dryRun') });
    await expect(migrations.start({ kind: 'REINDEX', mode: 'BLUE_GREEN', full: true })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('full') });
    await expect(migrations.start({ kind: 'REINDEX', mode: 'BLUE_GREEN', onConflict: 'FAIL' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('OVERWRITE') });
    await expect(migrations.start({ kind: 'VECTORS', mode: 'BLUE_GREEN' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('REINDEX') });
    const without = service({ target: { relational: rel, vector: vec }, embeddings: small, profiles: {}, dataDir: path.join(dir.dir, 'data2'), chunk: createChunker(OPTIONS) });
    await expect(without.start({ kind: 'REINDEX', mode: 'BLUE_GREEN' })).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('KnowledgeModule') });
    expect(await migrations.models.list()).toEqual([expect.objectContaining({ id: 1, state: 'ACTIVE', collection: 'chunks', createdAt: new Date(0).toISOString() })]);
    expect(await migrations.list()).toEqual([]);
  });

  it('while a generation is built: a second switch is refused, writes and deletes reach both generations, it cannot be switched to unverified, and an instance without its model does not start', async () => {
    const building = await generations.building('job-that-never-ran');
    expect(building.generation).toMatchObject({ id: 2, state: 'BUILDING', model: wide.model, dimensions: 48, collection: 'chunks_g2' });
    await expect(generations.building('another-job')).rejects.toMatchObject({ code: 'MODEL_SWITCH_IN_PROGRESS' });

    await svc.indexDocument('user-9', { documentId: 'late', content: 'A late note about the lighthouse keeper.' });
    expect([await vec.count({ userId: 'user-9', documentId: 'late' }), await building.vectors.count({ userId: 'user-9', documentId: 'late' })]).toEqual([1, 1]);
    expect(await svc.deleteDocument('user-9', 'late')).toBe(true);
    expect([await vec.count({ userId: 'user-9', documentId: 'late' }), await building.vectors.count({ userId: 'user-9', documentId: 'late' })]).toEqual([0, 0]);
    // Searches stay on the active generation.
    expect((await svc.search('user-1', 'keeper lamp', 1))[0]).toMatchObject({ model: small.model });

    await expect(migrations.models.switchTo(2)).rejects.toMatchObject({ code: 'GENERATION_INCOMPLETE', message: expect.stringContaining('missing') });
    await expect(migrations.start({ kind: 'VECTORS' })).rejects.toMatchObject({ code: 'MODEL_SWITCH_IN_PROGRESS' });

    const lacking = await instance(new EmbeddingModels(small, null));
    await expect(lacking.svc.onModuleInit()).rejects.toMatchObject({ code: 'MODEL_NOT_LOADED' });
    await lacking.generations.close();

    expect(await migrations.models.drop(2, 0)).toMatchObject({ id: 2, state: 'DROPPED', backup: null }); // it held nothing
    expect(await exists('chunks_g2', 48, wide.model)).toBe(false);
    expect(await generations.switching()).toBe(false);
  });

  it('switches begun at the same moment from three instances: exactly one is recorded, every time', async () => {
    const others = [await instance(new EmbeddingModels(small, wide)), await instance(new EmbeddingModels(small, wide))];
    for (let round = 0; round < 4; round++) {
      const results = await Promise.allSettled([generations, ...others.map((o) => o.generations)].map((g, k) => g.building(`job-${round}-${k}`)));
      const begun = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<ModelGenerations['building']>>> => r.status === 'fulfilled');
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect({ round, begun: begun.length, refused: refused.map((r) => r.reason?.code) }).toEqual({ round, begun: 1, refused: ['MODEL_SWITCH_IN_PROGRESS', 'MODEL_SWITCH_IN_PROGRESS'] });
      const rows = (await migrations.models.list()).filter((g) => g.state === 'BUILDING');
      expect(rows).toEqual([expect.objectContaining({ id: begun[0].value.generation.id, jobId: begun[0].value.generation.jobId })]);
      await migrations.models.drop(rows[0].id, 0);
    }
    for (const o of others) await o.generations.close();
  });

  it('after a verified re-index: the flip checks counts, refuses the active one, rolls back and forward, loses a race with a drop, and a drop finishes what a dead one left', async () => {
    const job = await migrations.start({ kind: 'REINDEX', mode: 'BLUE_GREEN' });
    const done = await migrations.waitFor(job.id, 60_000);
    expect({ status: done.status, error: done.error }).toEqual({ status: 'SUCCEEDED', error: null });
    const built = (await migrations.models.list()).find((g) => g.state === 'BUILDING')!;
    expect(built).toMatchObject({ id: 7, jobId: job.id, dimensions: 48 });
    const next = await generations.serve(built);

    // One chunk more than the active generation: the flip waits for the counts to agree, then refuses.
    await next.vectors.upsert([{ id: 'stray:0', userId: 'user-0', documentId: 'stray', chunkIndex: 0, content: 'stray', metadata: {}, embedding: new Float32Array(48).fill(0.1) }]);
    await expect(migrations.models.switchTo(7)).rejects.toMatchObject({ code: 'GENERATION_INCOMPLETE' });
    await next.vectors.deleteIds(['stray:0']);

    expect(await migrations.models.switchTo(7)).toMatchObject({ id: 7, state: 'ACTIVE' });
    await expect(migrations.models.switchTo(7)).rejects.toMatchObject({ code: 'MIGRATION_STATE' });
    await expect(migrations.models.drop(7)).rejects.toMatchObject({ code: 'MIGRATION_STATE', message: expect.stringContaining('active') });
    expect((await generations.active()).generation.id).toBe(7);
    expect((await svc.search('user-1', 'keeper lamp', 1))[0]).toMatchObject({ model: wide.model });
    expect(await rel.repository(DocumentEntity).countBy({ embeddingModel: wide.model })).toBe(30);

    // Verifying the job after its switch reads its generation and records nothing new; running it again is refused, and the job keeps its record.
    expect((await migrations.verify(job.id)).ok).toBe(true);
    await expect(migrations.resume(job.id, { overwrite: true })).rejects.toMatchObject({ code: 'MIGRATION_STATE', message: expect.stringContaining('ACTIVE') });
    expect((await migrations.get(job.id)).status).toBe('SUCCEEDED');
    expect((await migrations.models.list()).map((g) => g.state)).toEqual(['PREVIOUS', 'DROPPED', 'DROPPED', 'DROPPED', 'DROPPED', 'DROPPED', 'ACTIVE']);

    expect(await migrations.models.rollback()).toMatchObject({ id: 1, state: 'ACTIVE' });
    expect(await migrations.models.switchTo(7)).toMatchObject({ id: 7, state: 'ACTIVE' });

    // A drop of generation 1 holds its row (uncommitted) while a flip back to it runs: the flip must not
    // make a generation being dropped active.
    await sql.query('BEGIN');
    await sql.query(`UPDATE ${GENERATIONS} SET state = 'DROPPED' WHERE id = 1`);
    const flip = migrations.models.switchTo(1).then(
      () => 'flipped',
      (e) => e.code,
    );
    // Until the flip's transaction waits for that row lock (so the race is really run, not missed).
    const watcher = new Client(pg.url);
    await watcher.connect();
    try {
      for (let i = 0; i < 200; i++) {
        const { rows } = await watcher.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`);
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      expect((await watcher.query(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`)).rows[0].n).toBeGreaterThan(0);
    } finally {
      await watcher.end();
    }
    await sql.query('COMMIT');
    expect(await flip).toBe('MIGRATION_STATE');
    expect((await migrations.models.list()).map((g) => [g.id, g.state])).toEqual([
      [1, 'DROPPED'],
      [2, 'DROPPED'],
      [3, 'DROPPED'],
      [4, 'DROPPED'],
      [5, 'DROPPED'],
      [6, 'DROPPED'],
      [7, 'ACTIVE'],
    ]);

    // That drop died before removing the collection: dropping again removes it; the app goes on from generation 7.
    expect(await exists('chunks', 32, small.model)).toBe(true);
    const held = await vec.count();
    const gone = await migrations.models.drop(1, 0);
    expect(gone).toMatchObject({ id: 1, state: 'DROPPED', backup: { records: held, file: expect.stringMatching(/^backups\/.*\.ndjson$/) } });
    // The backup is a complete export file: its records are the collection's.
    const lines = readFileSync(path.join(dir.dir, 'data', gone.backup!.file), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => typeof l.id === 'string' && l.embedding).length).toBe(held);
    expect(await exists('chunks', 32, small.model)).toBe(false);
    await svc.indexDocument('user-1', { documentId: 'after', content: 'Written after the old generation was dropped: a ferry captain.' });
    expect((await svc.search('user-1', 'ferry captain', 1))[0]).toMatchObject({ documentId: 'after', model: wide.model });

    // A second switch, back to the 32-dim model (the one not active now), into a new generation.
    const back = await migrations.waitFor((await migrations.start({ kind: 'REINDEX', mode: 'BLUE_GREEN' })).id, 60_000);
    expect({ status: back.status, error: back.error }).toEqual({ status: 'SUCCEEDED', error: null });
    expect(await migrations.models.switchTo(8)).toMatchObject({ id: 8, state: 'ACTIVE', model: small.model, dimensions: 32, collection: 'chunks_g8' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await svc.search('user-1', 'ferry captain', 1))[0]).toMatchObject({ documentId: 'after', model: small.model });
  });
});
