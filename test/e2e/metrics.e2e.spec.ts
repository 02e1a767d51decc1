import type { MigrationJob, MigrationService } from '@switchyard/migration';
import { Metrics } from '../../apps/api/src/metrics/metrics';
import { startApp, TestApp } from '../support/app';

/** The value of one sample line of a Prometheus text exposition, or null when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | null {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const body = line.slice(name.length + 1, line.indexOf('}'));
    const got = Object.fromEntries(body.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), JSON.parse(kv.slice(kv.indexOf('=') + 1))]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return null;
}

describe('GET /metrics (Prometheus, prom-client)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startApp('sqlite+sqlite-vec');
  });

  afterAll(async () => {
    await t?.close();
  });

  async function scrape(): Promise<string> {
    const res = await fetch(`${t.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    return res.text();
  }

  it('counts GraphQL operations, provider calls and knowledge operations by outcome, without auth and without locations', async () => {
    const alice = t.token('alice');
    const before = await scrape();
    const base = (name: string, labels: Record<string, string>) => sample(before, name, labels) ?? 0;
    const indexOk = base('switchyard_graphql_operation_duration_seconds_count', { operation: 'indexDocument', type: 'mutation', outcome: 'ok' });
    const upserts = base('switchyard_provider_call_duration_seconds_count', { port: 'vector', provider: 'sqlite-vec', op: 'upsert', outcome: 'ok' });
    const searches = base('switchyard_knowledge_operations_total', { op: 'search', outcome: 'ok' });

    expect((await t.gql('mutation { indexDocument(input: { documentId: "m1", content: "Metrics about airplanes." }) { id } }', {}, alice)).errors).toBeUndefined();
    expect((await t.gql('{ searchKnowledge(query: "airplane", limit: 1) { documentId } }', {}, alice)).errors).toBeUndefined();
    const bad = await t.gql('{ searchKnowledge(query: "  ", limit: 1) { documentId } }', {}, alice);
    expect(bad.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');

    const after = await scrape();
    expect(sample(after, 'switchyard_graphql_operation_duration_seconds_count', { operation: 'indexDocument', type: 'mutation', outcome: 'ok' })).toBe(indexOk + 1);
    expect(sample(after, 'switchyard_graphql_operation_duration_seconds_count', { operation: 'searchKnowledge', type: 'query', outcome: 'BAD_USER_INPUT' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'switchyard_provider_call_duration_seconds_count', { port: 'vector', provider: 'sqlite-vec', op: 'upsert', outcome: 'ok' })).toBe(upserts + 1);
    expect(sample(after, 'switchyard_provider_call_duration_seconds_count', { port: 'embeddings', provider: 'xenova', op: 'embed', outcome: 'ok' })).toBeGreaterThanOrEqual(2);
    expect(sample(after, 'switchyard_knowledge_operations_total', { op: 'search', outcome: 'ok' })).toBe(searches + 1);
    expect(sample(after, 'switchyard_knowledge_operations_total', { op: 'search', outcome: 'BAD_INPUT' })).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/^switchyard_process_resident_memory_bytes \d+/m);
    expect(after).not.toContain(t.config.relational.provider === 'sqlite' ? t.config.relational.database : 'postgres://');
  });

  it('shows each running migration job: rows done and total, rate, phase, live lag', async () => {
    const running = { id: 'job-1', kind: 'VECTORS', status: 'RUNNING', progress: { total: 1000, done: 250, ratePerSecond: 125.5, etaSeconds: 6, phase: 'catch-up', steps: [], live: { rounds: 2, applied: 40, backlog: 17, frozen: false, freezeMs: null } } } as unknown as MigrationJob;
    const done = { ...running, id: 'job-0', status: 'SUCCEEDED' } as MigrationJob;
    const m = new Metrics({ list: async () => [running, done] } as unknown as MigrationService);
    try {
      const text = await m.registry.metrics();
      const labels = { job: 'job-1', kind: 'VECTORS', phase: 'catch-up' };
      expect([sample(text, 'switchyard_migration_rows_done', labels), sample(text, 'switchyard_migration_rows_total', labels), sample(text, 'switchyard_migration_rows_per_second', labels), sample(text, 'switchyard_migration_live_backlog', labels)]).toEqual([250, 1000, 125.5, 17]);
      expect(text).not.toContain('job-0');
    } finally {
      m.onModuleDestroy();
    }
  });
});
