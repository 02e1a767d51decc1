import Database from 'better-sqlite3';
import { serviceEnv, freshPostgres, toConnection } from '../support/services';
import { startApp, TestApp } from '../support/app';
import { startStallProxy, StallProxy } from '../support/stall-proxy';

const LIMIT_MS = 1500;

/**
 * A provider that stops answering (TCP accepted, no reply): every operation ends within its limit with
 * PROVIDER_UNAVAILABLE naming the provider, and works again once the provider answers. Real PostgreSQL
 * and Chroma behind a stalling TCP proxy.
 */
describe.each([
  ['postgres+pgvector', 'postgres'],
  ['sqlite+chromadb', 'chromadb'],
] as const)('a stalled provider (%s)', (stack, stalledProvider) => {
  let proxy: StallProxy;
  let app: TestApp;
  let dropDb: () => Promise<void> = async () => undefined;
  let token: string;

  beforeAll(async () => {
    const extra: Record<string, string> = { RELATIONAL_DB_TIMEOUT_MS: String(LIMIT_MS), VECTOR_DB_TIMEOUT_MS: String(LIMIT_MS) };
    if (stalledProvider === 'postgres') {
      const pg = await freshPostgres('stall');
      dropDb = pg.drop;
      proxy = await startStallProxy({ host: pg.connection.host, port: pg.connection.port });
      const c = toConnection(pg.url);
      extra.RELATIONAL_DB_URL = proxy.url('postgres', `/${c.database}`).replace('postgres://', `postgres://${c.username ?? 'postgres'}@`);
    } else {
      const u = new URL(serviceEnv('TEST_CHROMA_URL'));
      proxy = await startStallProxy({ host: u.hostname, port: Number(u.port) });
      extra.VECTOR_DB_CHROMA_URL = proxy.url('http');
    }
    app = await startApp(stack, extra);
    token = app.token('stall-user');
    const r = await app.gql('mutation { indexDocument(input: { documentId: "d1", content: "The pilot flew the airplane." }) { id } }', {}, token);
    expect(r.errors).toBeUndefined();
  });

  afterAll(async () => {
    proxy?.resume();
    await app?.close();
    await proxy?.close();
    await dropDb();
  });

  const operations: [string, string][] = [
    ['searchKnowledge', '{ searchKnowledge(query: "airplane", limit: 3) { documentId } }'],
    ['indexDocument', 'mutation { indexDocument(input: { documentId: "d2", content: "A second text." }) { id } }'],
  ];

  it.each(operations)('%s ends within the limit with PROVIDER_UNAVAILABLE, and works again once the provider answers', async (_name, query) => {
    proxy.stall();
    const t0 = Date.now();
    const r = await app.gql(query, {}, token);
    const ms = Date.now() - t0;
    proxy.resume();
    console.log(`${stalledProvider} stalled: ${_name} answered ${r.errors?.[0]?.extensions?.code} after ${ms} ms (limit ${LIMIT_MS} ms)`);
    expect(r.errors?.[0]?.extensions?.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.errors?.[0]?.message).toMatch(stalledProvider === 'postgres' ? /postgres/ : /chromadb/);
    expect(ms).toBeLessThan(3 * LIMIT_MS + 2000); // a search may make a call or two before the stalled one
    let again = await app.gql(query, {}, token);
    for (let i = 0; again.errors && i < 20; i++) {
      await new Promise((res) => setTimeout(res, 250));
      again = await app.gql(query, {}, token);
    }
    expect(again.errors).toBeUndefined();
  });
});

/**
 * A SQLite file another connection holds the write lock of (another process in a long transaction):
 * writes wait RELATIONAL_DB_TIMEOUT_MS (SQLite's busy_timeout), then end as PROVIDER_UNAVAILABLE naming
 * the engine; reads go on (WAL); the write works once the lock is gone.
 */
describe('a SQLite file locked by another connection', () => {
  let app: TestApp;
  let other: Database.Database;

  beforeAll(async () => {
    app = await startApp('sqlite+sqlite-vec', { RELATIONAL_DB_TIMEOUT_MS: String(LIMIT_MS), VECTOR_DB_TIMEOUT_MS: String(LIMIT_MS) });
    const token = app.token('lock-user');
    expect((await app.gql('mutation { indexDocument(input: { documentId: "d1", content: "The pilot flew the airplane." }) { id } }', {}, token)).errors).toBeUndefined();
    other = new Database((app.config.relational as { database: string }).database);
  });

  afterAll(async () => {
    if (other?.inTransaction) other.exec('ROLLBACK');
    other?.close();
    await app?.close();
  });

  it('a write waits the limit and ends PROVIDER_UNAVAILABLE naming sqlite; reads go on; it works once the lock is gone', async () => {
    const token = app.token('lock-user');
    other.exec('BEGIN IMMEDIATE');
    const t0 = performance.now();
    const r = await app.gql('mutation { indexDocument(input: { documentId: "d2", content: "Written while the file is locked." }) { id } }', {}, token);
    const ms = Math.round(performance.now() - t0);
    console.log(`SQLite file locked: indexDocument answered ${r.errors?.[0]?.extensions?.code} after ${ms} ms (limit ${LIMIT_MS} ms)`);
    expect(r.errors?.[0]?.extensions?.code).toBe('PROVIDER_UNAVAILABLE');
    expect(r.errors?.[0]?.message).toMatch(/sqlite/);
    expect(ms).toBeGreaterThanOrEqual(LIMIT_MS * 0.9);
    expect(ms).toBeLessThan(3 * LIMIT_MS + 2000); // the configured limit, not SQLite's old fixed 10 s
    const read = await app.gql<{ documents: { id: string }[] }>('{ documents { id } }', {}, token);
    expect(read.data!.documents.map((d) => d.id)).toEqual(['d1']);
    other.exec('ROLLBACK');
    const again = await app.gql('mutation { indexDocument(input: { documentId: "d2", content: "Written once the lock is gone." }) { id } }', {}, token);
    expect(again.errors).toBeUndefined();
  });
});
