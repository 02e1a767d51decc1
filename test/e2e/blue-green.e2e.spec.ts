import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { Client } from 'pg';
import { createRelationalDb, DocumentEntity, MigrationPartitionEntity, UsersRepository } from '@switchyard/relational-db';
import { startApp, TestApp } from '../support/app';
import { serviceEnv } from '../support/services';

const ROOT = path.resolve(__dirname, '../..');
const DOCS = 2000;
const JOB = `query($id: ID!) { migration(id: $id) { id status error errorCode progress { done total } verification { ok } } }`;
const JOBS = `query { migrations { id kind status mode progress { done total } } }`;
const GENERATIONS = `query { modelGenerations { id state model dimensions jobId } }`;
const SEARCH = `query($q: String!) { searchKnowledge(query: $q, limit: 1) { documentId content model } }`;
const INDEX = `mutation($input: IndexDocumentInput!) { indexDocument(input: $input) { id } }`;

interface Job {
  id: string;
  kind: string;
  status: string;
  error: string | null;
  mode: string | null;
  progress: { done: number; total: number } | null;
  verification: { ok: boolean } | null;
}

/** DOCS documents of alice as rows (fast), embedded by an in-place re-index through GraphQL. */
async function seed(t: TestApp, docs: number): Promise<void> {
  const rel = createRelationalDb(t.config.relational);
  await rel.init();
  try {
    await new UsersRepository(rel).ensure('alice');
    const rows = Array.from({ length: docs }, (_, i) => {
      const content = Array.from({ length: 4 }, (_, p) => `Record ${i} part ${p}: the archivist ${i * 3 + p} filed the map.`).join('\n\n');
      return Object.assign(new DocumentEntity(), { id: `seed-${String(i).padStart(5, '0')}`, userId: 'alice', externalId: `doc-${i}`, title: null, content, contentBytes: Buffer.byteLength(content), chunkCount: 0, version: 1, metadata: null, embeddingModel: null, indexedAt: null });
    });
    await rel.insertRows(DocumentEntity, rows, 'error');
  } finally {
    await rel.close();
  }
  const admin = t.token('ops', ['admin']);
  const seeded = await t.gql<{ startMigration: { id: string } }>(`mutation { startMigration(input: { kind: REINDEX }) { id } }`, {}, admin);
  expect(seeded.errors).toBeUndefined();
  expect(await finished(t, seeded.data!.startMigration.id)).toMatchObject({ status: 'SUCCEEDED' });
}

async function finished(t: TestApp, id: string): Promise<Job> {
  const admin = t.token('ops', ['admin']);
  for (let i = 0; i < 1200; i++) {
    const r = await t.gql<{ migration: Job }>(JOB, { id }, admin);
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    if (r.data!.migration.status !== 'RUNNING' && r.data!.migration.status !== 'PENDING') return r.data!.migration;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

/** `switchyard <args>` from source in its own process, on the app's deployment; `out` collects stdout and stderr. */
function cliProcess(t: TestApp, args: string[], extra: Record<string, string> = {}): { child: ChildProcess; out: () => string; exited: Promise<NodeJS.Signals | number | null> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/api/src/cli.ts', ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: 'tsconfig.json', ...t.env, ...extra },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { child, out: () => out, exited };
}

/**
 * The real app (PostgreSQL + pgvector) with a next model loaded, and a BLUE_GREEN re-index run by a
 * separate `switchyard migrate reindex --blue-green` process that is SIGKILLed half-way. The app keeps
 * writing meanwhile; `resumeMigration` in the app finishes the same generation, and the flip serves
 * what was written while the builder was dead.
 */
describe('BLUE_GREEN re-index killed mid-build (real app + CLI process, SIGKILL, resume)', () => {
  let t: TestApp;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    t = await startApp('postgres+pgvector', { EMBEDDINGS_NEXT_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH_ALT'), KNOWLEDGE_GENERATION_POLL_MS: '100' });
    await seed(t, DOCS);
  }, 180_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await t?.close();
  });

  it('resumes into the same generation, keeps the writes made while the builder was dead, and flips', async () => {
    const admin = t.token('ops', ['admin']);
    const alice = t.token('alice');
    const builder = cliProcess(t, ['migrate', 'reindex', '--blue-green', '--batch-size', '10']);
    child = builder.child;
    const { exited } = builder;

    // Kill it once it has written a tenth of the documents.
    let job: Job | undefined;
    for (let i = 0; i < 1200 && !job; i++) {
      const jobs = (await t.gql<{ migrations: Job[] }>(JOBS, {}, admin)).data!.migrations;
      job = jobs.find((j) => j.mode === 'BLUE_GREEN' && j.status === 'RUNNING' && (j.progress?.done ?? 0) >= DOCS / 10);
      if (!job) await new Promise((r) => setTimeout(r, 50));
    }
    if (!job) throw new Error(`the builder never got going:\n${builder.out()}`);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const killedAt = (await t.gql<{ migration: Job }>(JOB, { id: job.id }, admin)).data!.migration;
    expect(killedAt.status).toBe('RUNNING'); // as the dead process left it
    expect(killedAt.progress!.done).toBeLessThan(DOCS);

    // The app writes while the builder is dead: a new document and a new version of a seeded one.
    const fresh = 'Written while the builder was dead: the lighthouse keeper logged a comet.';
    const changed = 'Rewritten while the builder was dead: the ferry captain charted a reef.';
    expect((await t.gql(INDEX, { input: { documentId: 'fresh', content: fresh } }, alice)).errors).toBeUndefined();
    expect((await t.gql(INDEX, { input: { documentId: 'doc-7', content: changed } }, alice)).errors).toBeUndefined();

    const resumed = await t.gql<{ resumeMigration: { id: string } }>(`mutation($id: ID!) { resumeMigration(id: $id) { id status } }`, { id: job.id }, admin);
    expect(resumed.errors).toBeUndefined();
    const done = await finished(t, job.id);
    expect({ status: done.status, error: done.error, ok: done.verification?.ok }).toEqual({ status: 'SUCCEEDED', error: null, ok: true });

    const generations = (await t.gql<{ modelGenerations: Array<{ id: number; state: string; dimensions: number; jobId: string | null }> }>(GENERATIONS, {}, admin)).data!.modelGenerations;
    expect(generations.map((g) => [g.id, g.state, g.dimensions, g.jobId])).toEqual([
      [1, 'ACTIVE', 32, null],
      [2, 'BUILDING', 48, job.id],
    ]);
    const flip = await t.gql(`mutation { switchModel(generation: 2) { id state } }`, {}, admin);
    expect(flip.errors).toBeUndefined();
    await new Promise((r) => setTimeout(r, 500)); // the poll interval is 100 ms
    for (const [doc, content] of [
      ['fresh', fresh],
      ['doc-7', changed],
    ]) {
      const hit = (await t.gql<{ searchKnowledge: Array<{ documentId: string; content: string; model: string }> }>(SEARCH, { q: content }, alice)).data!.searchKnowledge[0];
      expect(hit).toEqual({ documentId: doc, content, model: 'switchyard-test-mini-48' });
    }
  }, 300_000);
});

/**
 * The same switch with MIGRATION_QUEUE=bullmq: the app coordinates, two `switchyard worker` processes
 * embed the documents' ranges (real Redis), one of them is SIGKILLed mid-way and its partition retried by
 * the other; the app writes meanwhile; the job ends verified and the flip serves everything.
 */
describe('BLUE_GREEN re-index as partitions on BullMQ workers (real app, Redis, two worker processes, one SIGKILLed)', () => {
  let t: TestApp;
  const workers: ReturnType<typeof cliProcess>[] = [];
  const QDOCS = 1500;
  /** Ranges of 100 documents, and the open-ended one above the last split point. */
  const PARTS = Math.floor(QDOCS / 100) + 1;

  beforeAll(async () => {
    const queue = { MIGRATION_QUEUE: 'bullmq', REDIS_URL: serviceEnv('REDIS_URL'), MIGRATION_QUEUE_PREFIX: `sy-test-bg-${Date.now()}`, MIGRATION_PARTITION_SIZE: '100', MIGRATION_QUEUE_LOCK_MS: '3000' };
    t = await startApp('postgres+pgvector', { EMBEDDINGS_NEXT_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH_ALT'), KNOWLEDGE_GENERATION_POLL_MS: '100', ...queue });
    await seed(t, QDOCS); // in-process: an in-place re-index with FAIL is not partitioned
    for (let i = 0; i < 2; i++) workers.push(cliProcess(t, ['worker', '--concurrency', '1']));
    for (const w of workers) {
      for (let i = 0; i < 300 && !/waiting for partitions/.test(w.out()); i++) await new Promise((r) => setTimeout(r, 100));
      expect(w.out()).toMatch(/waiting for partitions/);
    }
  }, 240_000);

  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await t?.close();
  });

  it('an in-place re-index with TRUNCATE runs as partitions too: backed up and counted first, verified, the store indexed again', async () => {
    const admin = t.token('ops', ['admin']);
    const alice = t.token('alice');
    const started = await t.gql<{ startMigration: { id: string } }>(`mutation { startMigration(input: { kind: REINDEX, onConflict: TRUNCATE }) { id } }`, {}, admin);
    expect(started.errors).toBeUndefined();
    const id = started.data!.startMigration.id;
    const done = await finished(t, id);
    expect({ status: done.status, error: done.error, ok: done.verification?.ok }).toEqual({ status: 'SUCCEEDED', error: null, ok: true });
    const JOBQ = `query($id: ID!) { migration(id: $id) { mode backups { rows empty } progress { queue { partitions finished } } } }`;
    const job = (await t.gql<{ migration: { mode: string; backups: Array<{ rows: number; empty: boolean | null }>; progress: { queue: { partitions: number; finished: number } | null } } }>(JOBQ, { id }, admin)).data!.migration;
    expect(job.mode).toBe('IN_PLACE');
    expect(job.progress.queue).toEqual({ partitions: PARTS, finished: PARTS });
    expect(job.backups).toHaveLength(1);
    expect(job.backups[0].rows).toBeGreaterThanOrEqual(QDOCS); // every chunk of the store it emptied, counted
    const hit = (await t.gql<{ searchKnowledge: Array<{ documentId: string; model: string }> }>(SEARCH, { q: 'Record 77 part 1: the archivist 232 filed the map.' }, alice)).data!.searchKnowledge[0];
    expect({ doc: hit?.documentId, model: hit?.model }).toEqual({ doc: 'doc-77', model: 'switchyard-test-mini' });
    const sql = new Client(t.env.RELATIONAL_DB_URL);
    await sql.connect();
    try {
      const { rows } = await sql.query(`SELECT count(*)::int AS n FROM pg_indexes WHERE tablename = 'switchyard_embeddings' AND indexdef LIKE '%hnsw%'`);
      expect(rows[0].n).toBe(1); // dropped for the load, built again once
    } finally {
      await sql.end();
    }
  });

  it('ends verified with every partition done, a killed worker’s range done again by the other, and the flip serves writes made meanwhile', async () => {
    const admin = t.token('ops', ['admin']);
    const alice = t.token('alice');
    const started = await t.gql<{ startMigration: { id: string } }>(`mutation { startMigration(input: { kind: REINDEX, mode: BLUE_GREEN, batchSize: 20, throttleMs: 100 }) { id } }`, {}, admin);
    expect(started.errors).toBeUndefined();
    const id = started.data!.startMigration.id;
    const QUEUE = `query($id: ID!) { migration(id: $id) { status progress { done queue { partitions finished attempts workers } } } }`;
    type Q = { status: string; progress: { done: number; queue: { partitions: number; finished: number; attempts: number; workers: string[] } | null } | null };
    // Kill the first worker once two ranges are done and, as the partitions table says right now, it holds one (its id ends with its pid).
    const rel = createRelationalDb(t.config.relational);
    await rel.init();
    let seen: Q | undefined;
    try {
      for (let i = 0; i < 1200; i++) {
        seen = (await t.gql<{ migration: Q }>(QUEUE, { id }, admin)).data!.migration;
        const held = await rel.repository(MigrationPartitionEntity).findBy({ jobId: id, status: 'RUNNING' });
        const holds = held.some((p) => p.worker?.split('/').includes(String(workers[0].child.pid)));
        if (seen.status !== 'RUNNING' || ((seen.progress?.queue?.finished ?? 0) >= 2 && holds)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await rel.close();
    }
    expect(seen).toMatchObject({ status: 'RUNNING', progress: { queue: { partitions: PARTS } } });
    workers[0].child.kill('SIGKILL');
    expect(await workers[0].exited).toBe('SIGKILL');
    const fresh = 'Written while a worker lay dead: the glassblower shaped a blue heron.';
    expect((await t.gql(INDEX, { input: { documentId: 'fresh-q', content: fresh } }, alice)).errors).toBeUndefined();

    const done = await finished(t, id);
    expect({ status: done.status, error: done.error, ok: done.verification?.ok }).toEqual({ status: 'SUCCEEDED', error: null, ok: true });
    const q = (await t.gql<{ migration: Q }>(QUEUE, { id }, admin)).data!.migration.progress!.queue!;
    expect(q).toMatchObject({ partitions: PARTS, finished: PARTS });
    expect(q.attempts).toBeGreaterThan(q.partitions); // the range the dead worker held was attempted again

    expect((await t.gql(`mutation { switchModel(generation: 2) { id state } }`, {}, admin)).errors).toBeUndefined();
    await new Promise((r) => setTimeout(r, 500));
    for (const [doc, content] of [
      ['fresh-q', fresh],
      ['doc-1234', 'Record 1234 part 2: the archivist 3704 filed the map.'],
    ]) {
      const hit = (await t.gql<{ searchKnowledge: Array<{ documentId: string; model: string }> }>(SEARCH, { q: content }, alice)).data!.searchKnowledge[0];
      expect({ doc: hit?.documentId, model: hit?.model }).toEqual({ doc, model: 'switchyard-test-mini-48' });
    }
  }, 300_000);
});
