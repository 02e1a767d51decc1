import * as path from 'node:path';
import { ChangeCapture, RelationalDb } from '@switchyard/relational-db';
import { serviceEnv } from '../support/services';
import { Stack, startApp, TestApp } from '../support/app';
import { startStallProxy, StallProxy } from '../support/stall-proxy';

interface Health {
  status: string;
  info?: Record<string, { status: string; provider?: string; message?: string }>;
  error?: Record<string, { status: string; provider?: string; message?: string }>;
  details?: Record<string, { status: string; provider?: string; message?: string }>;
}

async function get(t: TestApp, route: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Health; text: string; ms: number; cache: string | null; poweredBy: string | null }> {
  const t0 = performance.now();
  const res = await fetch(`${t.url}${route}`, { headers });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as Health, text, ms: performance.now() - t0, cache: res.headers.get('cache-control'), poweredBy: res.headers.get('x-powered-by') };
}

/** What a health body must never show: connection URLs, server addresses, file paths of the stack. */
function expectNoLocations(t: TestApp, text: string, extra: string[] = []): void {
  const tempDir = path.dirname(t.config.migration.dataDir);
  for (const secret of ['postgres://', 'postgresql://', 'http://127.0.0.1', '127.0.0.1', tempDir, serviceEnv('TEST_CHROMA_URL'), ...extra]) {
    expect(text).not.toContain(secret);
  }
  if (t.config.relational.provider === 'sqlite') expect(text).not.toContain(t.config.relational.database);
}

describe.each<[Stack, string, string]>([
  ['sqlite+sqlite-vec', 'sqlite', 'sqlite-vec'],
  ['postgres+pgvector', 'postgres', 'pgvector'],
])('health endpoints on %s', (stack, relational, vector) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp(stack);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /health/live is 200 without a token (and ignores a bad one)', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-a-token' }] as Record<string, string>[]) {
      const r = await get(t, '/health/live', headers);
      expect(r.status).toBe(200);
      expect(r.body.status).toBe('ok');
      expect(r.cache).toBe('no-store');
      expect(r.poweredBy).toBeNull(); // no framework advertisement
    }
  });

  it('GET /health/ready is 200 without a token and names each provider kind, not where it is', async () => {
    const r = await get(t, '/health/ready');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      status: 'ok',
      info: {
        relational: { status: 'up', provider: relational },
        vector: { status: 'up', provider: vector },
        embeddings: { status: 'up', provider: 'xenova' },
        writes: { status: 'up' },
      },
      error: {},
      details: expect.any(Object),
    });
    expectNoLocations(t, r.text);
  });

  it('GET /health/ready is 503 while the relational database is frozen by a live migration, 200 after', async () => {
    const db = t.app.get(RelationalDb);
    const capture = new ChangeCapture(db, [], 'health-e2e');
    await capture.install();
    try {
      expect((await get(t, '/health/ready')).status).toBe(200); // the freeze table alone is no freeze
      await capture.freeze('health-e2e');
      const frozen = await get(t, '/health/ready');
      expect(frozen.status).toBe(503);
      expect(frozen.body.status).toBe('error');
      expect(frozen.body.error).toEqual({ writes: { status: 'down', message: 'frozen for a migration cutover' } });
      expect(frozen.body.info).toMatchObject({ relational: { status: 'up' }, vector: { status: 'up' }, embeddings: { status: 'up' } });
      expectNoLocations(t, frozen.text);
      expect((await get(t, '/health/live')).status).toBe(200); // alive, only not ready
      await capture.unfreeze();
      expect((await get(t, '/health/ready')).status).toBe(200);
    } finally {
      await capture.unfreeze().catch(() => undefined);
      await capture.remove(false);
    }
  });
});

describe('health endpoints on sqlite+chromadb behind a stalling proxy', () => {
  const TIMEOUT_MS = 1500;
  let proxy: StallProxy;
  let t: TestApp;
  beforeAll(async () => {
    const chroma = new URL(serviceEnv('TEST_CHROMA_URL'));
    proxy = await startStallProxy({ host: chroma.hostname, port: Number(chroma.port) });
    t = await startApp('sqlite+chromadb', { VECTOR_DB_CHROMA_URL: proxy.url('http'), HEALTH_TIMEOUT_MS: String(TIMEOUT_MS) });
  });
  afterAll(async () => {
    proxy?.forward();
    await t?.close();
    await proxy?.close();
  });

  it('is 503 naming vector (chromadb) down within HEALTH_TIMEOUT_MS + 1 s when Chroma stops answering, 200 again when it answers', async () => {
    const before = await get(t, '/health/ready');
    expect(before.status).toBe(200);
    expect(before.body.info?.vector).toEqual({ status: 'up', provider: 'chromadb' });

    proxy.stall();
    const stalled = await get(t, '/health/ready');
    // eslint-disable-next-line no-console
    console.log(`time to 503 with Chroma stalled (HEALTH_TIMEOUT_MS=${TIMEOUT_MS}): ${Math.round(stalled.ms)} ms`);
    expect(stalled.status).toBe(503);
    expect(stalled.ms).toBeLessThan(TIMEOUT_MS + 1000);
    expect(stalled.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50); // it is the timer that answered, not an error
    expect(stalled.body.status).toBe('error');
    expect(stalled.body.error).toEqual({ vector: { status: 'down', provider: 'chromadb', message: 'timeout' } });
    expect(stalled.body.info).toMatchObject({ relational: { status: 'up', provider: 'sqlite' }, embeddings: { status: 'up' }, writes: { status: 'up' } });
    expectNoLocations(t, stalled.text, [String(proxy.port)]);

    // Probes in a row while it stays stalled: each one bounded too; liveness stays 200 and quick.
    const again = await Promise.all([get(t, '/health/ready'), get(t, '/health/ready'), get(t, '/health/live')]);
    expect(again.map((r) => r.status)).toEqual([503, 503, 200]);
    for (const r of again) expect(r.ms).toBeLessThan(TIMEOUT_MS + 1000);

    // The pings sent during the stall never get an answer: readiness must not keep waiting on them.
    proxy.forward();
    const back = await get(t, '/health/ready');
    expect(back.status).toBe(200);
    expect(back.body.info?.vector).toEqual({ status: 'up', provider: 'chromadb' });
  });
});
