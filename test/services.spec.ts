/**
 * Smoke test for the real servers provided by test/global-setup.js:
 * PostgreSQL with pgvector (TEST_DATABASE_URL) and Chroma (TEST_CHROMA_URL).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { ChromaClient } from 'chromadb';

function serviceEnv(name: 'TEST_DATABASE_URL' | 'TEST_CHROMA_URL'): string {
  const fromEnv = process.env[name];
  if (fromEnv) return fromEnv;
  // fallback written by global-setup when env propagation is not available
  const file = path.join(__dirname, '.services.json');
  const saved = fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>) : {};
  if (!saved[name]) throw new Error(`${name} is not set (did test/global-setup.js run?)`);
  return saved[name];
}

describe('test services', () => {
  describe('PostgreSQL + pgvector', () => {
    let client: Client;

    beforeAll(async () => {
      client = new Client({ connectionString: serviceEnv('TEST_DATABASE_URL') });
      await client.connect();
    });

    afterAll(async () => {
      await client?.end();
    });

    it('has the vector extension installed', async () => {
      const { rows } = await client.query<{ extversion: string }>(
        "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].extversion).toMatch(/^\d+\.\d+/);
    });

    it('answers cosine-distance (<=>) queries', async () => {
      await client.query('CREATE TEMP TABLE items (id int PRIMARY KEY, embedding vector(3))');
      await client.query(
        "INSERT INTO items VALUES (1, '[1,0,0]'), (2, '[0,1,0]'), (3, '[0.9,0.1,0]')",
      );
      const { rows } = await client.query<{ id: number; d: number }>(
        "SELECT id, (embedding <=> '[1,0,0]')::float8 AS d FROM items ORDER BY embedding <=> '[1,0,0]' LIMIT 3",
      );
      expect(rows.map((r) => r.id)).toEqual([1, 3, 2]);
      expect(rows[0].d).toBeCloseTo(0, 6);
      expect(rows[2].d).toBeCloseTo(1, 6);
    });
  });

  describe('Chroma', () => {
    let chroma: ChromaClient;

    beforeAll(() => {
      const url = new URL(serviceEnv('TEST_CHROMA_URL'));
      chroma = new ChromaClient({
        host: url.hostname,
        port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
        ssl: url.protocol === 'https:',
      });
    });

    it('answers heartbeats', async () => {
      expect(await chroma.heartbeat()).toBeGreaterThan(0);
    });

    it('creates, queries and deletes a cosine collection', async () => {
      const name = `services-spec-${process.pid}-${Date.now()}`;
      const collection = await chroma.createCollection({
        name,
        embeddingFunction: null,
        configuration: { hnsw: { space: 'cosine' } },
        metadata: { purpose: 'services.spec' },
      });
      try {
        expect(collection.configuration?.hnsw?.space).toBe('cosine');
        await collection.add({
          ids: ['a', 'b'],
          embeddings: [
            [1, 0, 0],
            [0, 1, 0],
          ],
        });
        const res = await collection.query({ queryEmbeddings: [[1, 0.1, 0]], nResults: 2 });
        expect(res.ids[0]).toEqual(['a', 'b']);
        expect(res.distances[0][0]).toBeLessThan(0.01);
      } finally {
        await chroma.deleteCollection({ name });
      }
      const names = (await chroma.listCollections()).map((c) => c.name);
      expect(names).not.toContain(name);
    });
  });
});
