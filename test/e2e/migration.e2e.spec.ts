import { createClient } from 'graphql-ws';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { SECRET, sqliteChromaProfile, startApp, TestApp } from '../support/app';

const INDEX = `mutation($input: IndexDocumentInput!) { indexDocument(input: $input) { id chunkCount } }`;
const SEARCH = `query($q: String!) { searchKnowledge(query: $q, limit: 3) { documentId content score } }`;
const START = `mutation($input: StartMigrationInput!) { startMigration(input: $input) { id kind status dryRun source target } }`;
const JOB = `query($id: ID!) { migration(id: $id) { id kind status error errorCode plan progress { total done ratePerSecond etaSeconds } verification { ok recallAt10 tables { name sourceCount targetCount checksumMatch } } } }`;

interface Job {
  id: string;
  status: string;
  error: string | null;
  errorCode: string | null;
  plan: { steps: Array<{ name: string; sourceCount: number; targetCount: number }>; refusal: unknown } | null;
  progress: { total: number; done: number } | null;
  verification: { ok: boolean; recallAt10: number | null; tables: Array<{ name: string; sourceCount: number; targetCount: number; checksumMatch: boolean | null }> } | null;
}

async function finished(t: TestApp, token: string, id: string): Promise<Job> {
  for (let i = 0; i < 600; i++) {
    const r = await t.gql<{ migration: Job }>(JOB, { id }, token);
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    if (r.data!.migration.status !== 'RUNNING') return r.data!.migration;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error('migration did not finish');
}

/**
 * The seed guide's flow, through GraphQL alone: a dev deployment (SQLite + Chroma) is moved to
 * PostgreSQL + pgvector: edit env, restart, plan, migrate, verify counts and checksums, search.
 */
describe('seed-guide migration through GraphQL: SQLite + Chroma -> PostgreSQL + pgvector', () => {
  let dev: TestApp;
  let prod: TestApp;
  const collection = `dev_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    dev = await startApp('sqlite+chromadb', { VECTOR_DB_COLLECTION: collection });
    const alice = dev.token('alice');
    await dev.gql(INDEX, { input: { documentId: 'cars', title: 'Cars ✓', content: 'The mechanic repaired the car engine and replaced the brakes.' } }, alice);
    await dev.gql(INDEX, { input: { documentId: 'pets', content: 'My puppy loves to play fetch in the park with other dogs.' } }, alice);
    await dev.gql(INDEX, { input: { documentId: 'cars', content: 'Bob writes about cooking pasta.' } }, dev.token('bob'));
    // "Update .env, restart": the new app is PostgreSQL + pgvector; the old stack is the source profile.
    prod = await startApp('postgres+pgvector', { ...sqliteChromaProfile(dev, collection), ...sqliteChromaProfile(dev, `${collection}_typo`, 'GHOST') });
  });
  afterAll(async () => {
    await prod?.close();
    await dev?.close();
  });

  it('requires the admin role', async () => {
    const r = await prod.gql(START, { input: { kind: 'RELATIONAL' } }, prod.token('alice'));
    expect(r.errors?.[0].extensions?.code).toBe('FORBIDDEN');
  });

  it('plans, copies and verifies the relational data, then the vectors; search works on the new stack', async () => {
    const admin = prod.token('ops', ['admin']);
    expect(SECRET).toBeTruthy();
    const plan = await prod.gql<{ startMigration: { id: string; dryRun: boolean } }>(START, { input: { kind: 'RELATIONAL', dryRun: true } }, admin);
    expect(plan.errors).toBeUndefined();
    const planned = await finished(prod, admin, plan.data!.startMigration.id);
    expect(planned.status).toBe('PLANNED');
    const docsStep = planned.plan!.steps.find((s) => s.name === 'documents')!;
    expect(docsStep).toMatchObject({ sourceCount: 3, targetCount: 0 });
    // The whole stack in one job: its plan holds the tables and the vectors.
    const stack = await prod.gql<{ startMigration: { id: string } }>(START, { input: { kind: 'FULL_STACK', dryRun: true } }, admin);
    expect(stack.errors).toBeUndefined();
    const stackPlan = await finished(prod, admin, stack.data!.startMigration.id);
    expect(stackPlan.status).toBe('PLANNED');
    expect(stackPlan.plan!.steps.map((s) => s.sourceCount)).toEqual([expect.any(Number), 3, 3]);
    expect(stackPlan.plan!.steps.slice(0, 2).map((s) => s.name)).toEqual(['users', 'documents']);

    const rel = await prod.gql<{ startMigration: { id: string; status: string } }>(START, { input: { kind: 'RELATIONAL' } }, admin);
    const relJob = await finished(prod, admin, rel.data!.startMigration.id);
    expect(relJob.error).toBeNull();
    expect(relJob.status).toBe('SUCCEEDED');
    expect(relJob.verification!.ok).toBe(true);
    expect(relJob.verification!.tables.find((t) => t.name === 'documents')).toMatchObject({ sourceCount: 3, targetCount: 3, checksumMatch: true });

    const vec = await prod.gql<{ startMigration: { id: string } }>(START, { input: { kind: 'VECTORS' } }, admin);
    const vecJob = await finished(prod, admin, vec.data!.startMigration.id);
    expect(vecJob.error).toBeNull();
    expect(vecJob.status).toBe('SUCCEEDED');
    expect(vecJob.verification!.ok).toBe(true);
    expect(vecJob.verification!.tables[0]).toMatchObject({ sourceCount: 3, targetCount: 3, checksumMatch: true });

    const hits = await prod.gql<{ searchKnowledge: Array<{ documentId: string; content: string }> }>(SEARCH, { q: 'automobile motor fixed' }, prod.token('alice'));
    expect(hits.errors).toBeUndefined();
    expect(hits.data!.searchKnowledge[0]).toMatchObject({ documentId: 'cars', content: 'The mechanic repaired the car engine and replaced the brakes.' });
    const bob = await prod.gql<{ searchKnowledge: Array<{ content: string }> }>(SEARCH, { q: 'car' }, prod.token('bob'));
    expect(bob.data!.searchKnowledge.map((h) => h.content)).toEqual(['Bob writes about cooking pasta.']);
  });

  it('streams a job’s progress over graphql-ws until it finishes (admin token in connectionParams)', async () => {
    const admin = prod.token('ops', ['admin']);
    const client = createClient({ url: prod.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${admin}` }, retryAttempts: 0 });
    try {
      const exp = await prod.gql<{ exportData: { id: string } }>(`mutation { exportData(input: { kind: VECTORS, path: "ws-test.ndjson" }) { id } }`, {}, admin);
      expect(exp.errors).toBeUndefined();
      const id = exp.data!.exportData.id;
      const seen: Array<{ status: string; progress: { done: number; total: number } | null }> = [];
      await new Promise<void>((resolve, reject) => {
        client.subscribe<{ migrationProgress: { status: string; progress: { done: number; total: number } | null } }>(
          { query: `subscription($id: ID!) { migrationProgress(id: $id) { id status progress { done total } } }`, variables: { id } },
          { next: (m) => (m.errors ? reject(new Error(JSON.stringify(m.errors))) : seen.push(m.data!.migrationProgress)), error: reject, complete: resolve },
        );
      });
      expect(seen.length).toBeGreaterThan(0);
      expect(seen[seen.length - 1]).toMatchObject({ status: 'SUCCEEDED', progress: { done: 3, total: 3 } });

      const denied = await new Promise<unknown>((resolve) => {
        const bad = createClient({ url: prod.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${prod.token('alice')}` }, retryAttempts: 0 });
        bad.subscribe({ query: `subscription($id: ID!) { migrationProgress(id: $id) { id } }`, variables: { id } }, { next: (m) => resolve(m.errors), error: resolve, complete: () => resolve(null) });
      });
      expect(JSON.stringify(denied)).toMatch(/admin/);
    } finally {
      await client.dispose();
    }
  });

  it('names a missing source collection instead of creating it and copying nothing', async () => {
    const admin = prod.token('ops', ['admin']);
    const r = await prod.gql<{ startMigration: { id: string } }>(START, { input: { kind: 'VECTORS', source: 'ghost', dryRun: true } }, admin);
    const job = r.errors ? null : await finished(prod, admin, r.data!.startMigration.id);
    const code = r.errors?.[0].extensions?.code ?? job?.errorCode;
    const message = r.errors?.[0].message ?? job?.error;
    expect(code).toBe('NOT_FOUND');
    expect(message).toContain(`${collection}_typo`);
    const unknown = await prod.gql(START, { input: { kind: 'VECTORS', source: 'nope' } }, admin);
    expect(JSON.stringify(unknown.errors ?? unknown.data)).toMatch(/nope/);
  });

  it('refuses to copy again into a non-empty target under FAIL, before any write', async () => {
    const admin = prod.token('ops', ['admin']);
    const again = await prod.gql<{ startMigration: { id: string } }>(START, { input: { kind: 'RELATIONAL' } }, admin);
    const job = again.errors ? null : await finished(prod, admin, again.data!.startMigration.id);
    const code = again.errors?.[0].extensions?.code ?? job?.errorCode;
    expect(code).toBe('CONFLICT');
    const docs = await prod.gql<{ documents: unknown[] }>(`{ documents { id } }`, {}, prod.token('alice'));
    expect(docs.data!.documents).toHaveLength(2);
  });
});
