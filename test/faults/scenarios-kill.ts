import type { RelationalDbConfig, VectorDbConfig } from '@switchyard/core';
import { DocumentEntity, RelationalDb, UserEntity } from '@switchyard/relational-db';
import { backupProblems, judge, readable, relationalProblems, vectorProblems } from './checks';
import { Digest, rawTableDigest, vectorDigest } from './compare';
import { deployment, DIMS, MODEL, oldDeployment, seedRelational, seedVectors } from './data';
import { Scenario, ScenarioContext } from './harness';
import { killAndResume, planKills } from './kill-resume';
import type { JobSummary } from './protocol';

const sqlite = (database: string): RelationalDbConfig => ({ provider: 'sqlite', database, logging: false });
const sqliteVec = (file: string): VectorDbConfig => ({ provider: 'sqlite-vec', path: file, dimensions: DIMS, collection: 'vector_embeddings' });

async function hnswProblems(db: RelationalDb, table: string): Promise<string[]> {
  const rows = (await db.dataSource.query(`SELECT indexdef FROM pg_indexes WHERE tablename = $1`, [table])) as { indexdef: string }[];
  return rows.some((r) => /USING hnsw/.test(r.indexdef)) ? [] : [`pgvector table ${table} has no HNSW index after the job (the index dropped for the load was not rebuilt)`];
}

const backupsOf = (db: RelationalDb, dataDir: string, job: JobSummary | null, before: Map<string, Digest>) => (job ? readable('the backups', () => backupProblems(db, dataDir, job, before)) : Promise.resolve([]));

/** Users per document count, as a deployment might have them. */
const usersFor = (docs: number) => Math.max(5, Math.round(docs / 50));

export const relationalTruncate: Scenario = {
  name: 'relational-truncate',
  about: 'SQLite -> PostgreSQL, RELATIONAL, onConflict TRUNCATE into a non-empty target; SIGKILLs during backup, truncate, copy, checkpoint, verification',
  async run(ctx: ScenarioContext) {
    const { records, kills, batchSize } = ctx.opts;
    const users = usersFor(records);
    const dir = ctx.dir();
    const sourceRel = sqlite(dir.file('source.sqlite'));
    await ctx.withStores(sourceRel, null, (db) => seedRelational(db, deployment(ctx.rng, { docs: records, users, vectors: 0 })));
    const pg = await ctx.postgres('faultrel');
    const db = await ctx.relational(pg.relational);
    await seedRelational(db, oldDeployment(ctx.rng, { docs: Math.ceil(records / 2), users, vectors: 0 }));
    const before = new Map<string, Digest>([
      ['users', await rawTableDigest(db, db.metadata(UserEntity).tableName, 'users')],
      ['documents', await rawTableDigest(db, db.metadata(DocumentEntity).tableName, 'documents')],
    ]);
    const config = ctx.runnerConfig({ relational: pg.relational, vector: pg.vector(), model: MODEL }, { source: { name: 'source', relational: sourceRel, vector: sqliteVec(dir.file('source.sqlite')) } }, dir.dataDir);
    const plan = planKills(ctx.rng, kills, ['backup', 'truncate', 'copy', 'checkpoint', 'verify'], Math.ceil((records + users) / batchSize));
    const out = await killAndResume(ctx, { config, input: { kind: 'RELATIONAL', source: 'source', onConflict: 'TRUNCATE', batchSize }, plan, db });
    ctx.note(`waited ${out.waitedMs} ms in all for dead jobs' heartbeats to go stale`);
    judge(ctx, 'relational', out.final, await relationalProblems(ctx, sourceRel, pg.relational), true);
    for (const p of await backupsOf(db, dir.dataDir, out.final, before)) ctx.problem(p);
  },
};

export const vectorsSqliteVecToPgvector: Scenario = {
  name: 'vectors-sqlitevec-pgvector',
  about: 'sqlite-vec -> pgvector, VECTORS, onConflict TRUNCATE into a non-empty target; SIGKILLs during backup, truncate, copy, checkpoint, HNSW build, verification',
  async run(ctx: ScenarioContext) {
    const { records, kills, batchSize } = ctx.opts;
    const docs = Math.max(10, Math.ceil(records / 2));
    const users = usersFor(docs);
    const dep = deployment(ctx.rng, { docs, users, vectors: records });
    const dir = ctx.dir();
    const sourceVec = sqliteVec(dir.file('source.sqlite'));
    await ctx.withStores(null, sourceVec, async (_, v) => {
      await v.recordModel(MODEL);
      await seedVectors(v, dep);
    });
    const pg = await ctx.postgres('faultvec');
    const target = { relational: pg.relational, vector: pg.vector() };
    const db = await ctx.relational(pg.relational);
    await seedRelational(db, dep); // the relational data was migrated already: vectors must name its documents
    const before = new Map<string, Digest>();
    await ctx.withStores(null, target.vector, async (_, v) => {
      await v.recordModel(MODEL);
      await seedVectors(v, oldDeployment(ctx.rng, { docs, users, vectors: Math.ceil(records / 2) }));
      before.set('vector_embeddings', await vectorDigest(v));
    });
    const config = ctx.runnerConfig({ ...target, model: MODEL }, { source: { name: 'source', relational: sqlite(dir.file('source.sqlite')), vector: sourceVec } }, dir.dataDir);
    const plan = planKills(ctx.rng, kills, ['backup', 'truncate', 'copy', 'checkpoint', 'index', 'verify'], Math.ceil(records / batchSize));
    const out = await killAndResume(ctx, { config, input: { kind: 'VECTORS', source: 'source', onConflict: 'TRUNCATE', batchSize }, plan, db });
    ctx.note(`waited ${out.waitedMs} ms in all for dead jobs' heartbeats to go stale`);
    judge(ctx, 'vectors', out.final, [...(await vectorProblems(ctx, sourceVec, target)), ...(await hnswProblems(db, 'vector_embeddings'))], true);
    for (const p of await backupsOf(db, dir.dataDir, out.final, before)) ctx.problem(p);
  },
};

export const vectorsChromaToPgvector: Scenario = {
  name: 'vectors-chroma-pgvector',
  about: 'Chroma -> pgvector, VECTORS, onConflict FAIL into an empty target; SIGKILLs during copy, checkpoint, HNSW build, verification',
  async run(ctx: ScenarioContext) {
    const { records, kills, batchSize } = ctx.opts;
    const docs = Math.max(10, Math.ceil(records / 2));
    const dep = deployment(ctx.rng, { docs, users: usersFor(docs), vectors: records });
    const dir = ctx.dir();
    const chroma = ctx.chroma('faults_src');
    await ctx.withStores(null, { ...chroma }, async (_, v) => {
      await v.recordModel(MODEL);
      await seedVectors(v, dep);
    });
    const pg = await ctx.postgres('faultchroma');
    const target = { relational: pg.relational, vector: pg.vector() };
    const db = await ctx.relational(pg.relational);
    await seedRelational(db, dep);
    const config = ctx.runnerConfig({ ...target, model: MODEL }, { chroma: { name: 'chroma', relational: sqlite(dir.file('unused.sqlite')), vector: chroma } }, dir.dataDir);
    const plan = planKills(ctx.rng, kills, ['copy', 'checkpoint', 'index', 'verify'], Math.ceil(records / batchSize));
    const out = await killAndResume(ctx, { config, input: { kind: 'VECTORS', source: 'chroma', batchSize }, plan, db });
    ctx.note(`waited ${out.waitedMs} ms in all for dead jobs' heartbeats to go stale`);
    judge(ctx, 'vectors', out.final, [...(await vectorProblems(ctx, chroma, target)), ...(await hnswProblems(db, 'vector_embeddings'))], true);
  },
};
