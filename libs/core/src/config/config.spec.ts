import { ConfigError, embeddingModelName, loadConfig } from './config';

function issues(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('defaults to the embedded stack: sqlite + sqlite-vec in the same file + xenova MiniLM (384)', () => {
    const c = loadConfig({});
    expect(c.relational).toEqual({ provider: 'sqlite', database: './data/switchyard.sqlite', logging: false, tablePrefix: 'switchyard_', timeoutMs: 10_000 });
    expect(c.vector).toEqual({ provider: 'sqlite-vec', path: './data/switchyard.sqlite', dimensions: 384, collection: 'switchyard_embeddings', timeoutMs: 10_000 });
    expect(c.embeddings).toMatchObject({ provider: 'xenova', model: 'Xenova/all-MiniLM-L6-v2', batchSize: 32, chunkSize: 1000, chunkOverlap: 200 });
    expect(c.llm).toMatchObject({ provider: 'ollama', url: 'http://localhost:11434' });
    expect(c.auth.insecureDefault).toBe(true);
    expect(c.migration.profiles).toEqual({});
  });

  it('names the variable and the allowed values for each bad value, all at once', () => {
    const list = issues({ RELATIONAL_DB_PROVIDER: 'mysql', VECTOR_DB_PROVIDER: 'faiss', VECTOR_DB_DIMENSIONS: '-3', EMBEDDINGS_PROVIDER: 'openai' });
    expect(list).toEqual(
      expect.arrayContaining([
        'RELATIONAL_DB_PROVIDER: got "mysql"; allowed: sqlite, postgres',
        'VECTOR_DB_PROVIDER: got "faiss"; allowed: sqlite-vec, pgvector, chromadb',
        expect.stringMatching(/^VECTOR_DB_DIMENSIONS: got "-3"; allowed: a positive integer/),
        'EMBEDDINGS_PROVIDER: got "openai"; allowed: xenova',
      ]),
    );
  });

  it('requires a host for postgres and a numeric port', () => {
    const list = issues({ RELATIONAL_DB_PROVIDER: 'postgres', RELATIONAL_DB_PORT: 'fivefour', RELATIONAL_DB_DATABASE: 'db', RELATIONAL_DB_SSL: 'maybe' });
    expect(list).toContain('RELATIONAL_DB_SSL: got "maybe"; allowed: true, false');
    expect(list).toEqual(expect.arrayContaining([expect.stringMatching(/^RELATIONAL_DB_HOST: is required when RELATIONAL_DB_PROVIDER=postgres/), expect.stringMatching(/^RELATIONAL_DB_PORT: got "fivefour"; allowed: a TCP port number/)]));
  });

  it('takes a table prefix for Switchyard\'s own tables, and names what a bad one may be', () => {
    expect(loadConfig({ RELATIONAL_DB_TABLE_PREFIX: 'rag_' }).relational.tablePrefix).toBe('rag_');
    expect(issues({ RELATIONAL_DB_TABLE_PREFIX: 'Bad-Prefix' })).toEqual([expect.stringMatching(/^RELATIONAL_DB_TABLE_PREFIX: got "Bad-Prefix"; allowed: lower-case letters, digits and _/)]);
    expect(issues({ MIGRATION_OLD_RELATIONAL_DB_PROVIDER: 'sqlite', MIGRATION_OLD_RELATIONAL_DB_DATABASE: 'x.sqlite', MIGRATION_OLD_VECTOR_DB_PROVIDER: 'sqlite-vec', MIGRATION_OLD_VECTOR_DB_PATH: 'x.sqlite', MIGRATION_OLD_RELATIONAL_DB_TABLE_PREFIX: '1x' })).toEqual(
      expect.arrayContaining([expect.stringMatching(/^MIGRATION_OLD_RELATIONAL_DB_TABLE_PREFIX: got "1x"/)]),
    );
  });

  it('listens on 127.0.0.1 unless told (HOST), on all interfaces by default only in production', () => {
    expect(loadConfig({}).host).toBe('127.0.0.1');
    expect(loadConfig({ HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
    expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'x'.repeat(8) + 'aZ3$kQ9!mP2@vL7#wR5^tY1&uI8*oE4(' }).host).toBe('0.0.0.0');
  });

  it('bounds provider waits: RELATIONAL_DB_TIMEOUT_MS / VECTOR_DB_TIMEOUT_MS, 30 s by default, named when bad', () => {
    const pg = loadConfig({ RELATIONAL_DB_PROVIDER: 'postgres', RELATIONAL_DB_URL: 'postgres://u@h/db', VECTOR_DB_PROVIDER: 'pgvector' });
    expect(pg.relational).toMatchObject({ timeoutMs: 30_000 });
    expect(pg.vector).toMatchObject({ timeoutMs: 30_000 });
    expect(loadConfig({ VECTOR_DB_PROVIDER: 'chromadb', VECTOR_DB_TIMEOUT_MS: '1500' }).vector).toMatchObject({ timeoutMs: 1500 });
    expect(issues({ VECTOR_DB_PROVIDER: 'chromadb', VECTOR_DB_TIMEOUT_MS: '5' })).toEqual([expect.stringMatching(/^VECTOR_DB_TIMEOUT_MS: .*milliseconds from 100 to 3600000/)]);
  });

  it('VECTOR_DB_HNSW_EF_SEARCH: pgvector\'s search breadth, 100 by default, 10..1000, named when bad', () => {
    const env = { RELATIONAL_DB_PROVIDER: 'postgres', RELATIONAL_DB_URL: 'postgres://u@h/db', VECTOR_DB_PROVIDER: 'pgvector' };
    expect(loadConfig(env).vector).toMatchObject({ efSearch: 100 });
    expect(loadConfig({ ...env, VECTOR_DB_HNSW_EF_SEARCH: '400' }).vector).toMatchObject({ efSearch: 400 });
    expect(issues({ ...env, VECTOR_DB_HNSW_EF_SEARCH: '5000' })).toEqual([expect.stringMatching(/^VECTOR_DB_HNSW_EF_SEARCH: .*from 10 to 1000/)]);
  });

  it('rejects pgvector without postgres, a bad URL, a bad boolean, overlap >= size', () => {
    const list = issues({ VECTOR_DB_PROVIDER: 'pgvector', LLM_URL: 'not a url', EMBEDDINGS_CHUNK_SIZE: '100', EMBEDDINGS_CHUNK_OVERLAP: '100' });
    expect(list.join('\n')).toMatch(/VECTOR_DB_PROVIDER: pgvector reuses the PostgreSQL connection/);
    expect(list.join('\n')).toMatch(/LLM_URL: got "not a url"; allowed: an absolute URL/);
    expect(list.join('\n')).toMatch(/EMBEDDINGS_CHUNK_OVERLAP: got 100; allowed: an integer smaller than EMBEDDINGS_CHUNK_SIZE/);
  });

  it('requires a strong AUTH_JWT_SECRET in production', () => {
    expect(issues({ NODE_ENV: 'production' }).join()).toMatch(/AUTH_JWT_SECRET: is required when NODE_ENV=production/);
    expect(issues({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'short' }).join()).toMatch(/AUTH_JWT_SECRET: is too short/);
    for (const weak of ['switchyard-dev-secret-do-not-use-in-production', 'a'.repeat(32), '0123456789'.repeat(4).slice(0, 36).replace(/9/g, '0')]) {
      expect(issues({ NODE_ENV: 'production', AUTH_JWT_SECRET: weak }).join()).toMatch(/AUTH_JWT_SECRET: is a known or low-entropy secret/);
    }
    expect(loadConfig({ NODE_ENV: 'production', AUTH_JWT_SECRET: 'Zq8#vR2!mK9@xL4$pT7%wB1^nH6&cF3*' }).auth.jwtSecret).toHaveLength(32);
    expect(loadConfig({}).auth.maxTokenSeconds).toBe(86_400);
    expect(issues({ AUTH_MAX_TOKEN_SECONDS: '5' })).toEqual([expect.stringMatching(/^AUTH_MAX_TOKEN_SECONDS: .*seconds from 60/)]);
  });

  it('takes an identity provider instead of a shared secret (AUTH_JWKS_URL, AUTH_ISSUER, AUTH_AUDIENCE, AUTH_ROLES_CLAIM)', () => {
    const c = loadConfig({ NODE_ENV: 'production', AUTH_JWKS_URL: 'https://idp.example/certs', AUTH_ISSUER: 'https://idp.example', AUTH_AUDIENCE: 'api', AUTH_ROLES_CLAIM: 'realm_access.roles' });
    expect(c.auth).toMatchObject({ jwtSecret: '', jwks: { url: 'https://idp.example/certs', issuer: 'https://idp.example', audience: 'api' }, rolesClaim: 'realm_access.roles' });
    expect(loadConfig({}).auth).toMatchObject({ rolesClaim: 'roles' });
    expect(loadConfig({}).auth.jwks).toBeUndefined();
    expect(issues({ AUTH_JWKS_URL: 'not a url' }).join()).toMatch(/AUTH_JWKS_URL/);
    const missing = issues({ NODE_ENV: 'production', AUTH_JWKS_URL: 'https://idp.example/certs' }).join('\n');
    expect(missing).toMatch(/AUTH_ISSUER: is required with AUTH_JWKS_URL when NODE_ENV=production/);
    expect(missing).toMatch(/AUTH_AUDIENCE: is required with AUTH_JWKS_URL when NODE_ENV=production/);
  });

  it('reads postgres + pgvector from RELATIONAL_DB_* (pgvector reuses the connection)', () => {
    const c = loadConfig({ RELATIONAL_DB_PROVIDER: 'postgres', RELATIONAL_DB_HOST: 'db', RELATIONAL_DB_PORT: '5433', RELATIONAL_DB_DATABASE: 'app', RELATIONAL_DB_USERNAME: 'u', RELATIONAL_DB_PASSWORD: 'p', RELATIONAL_DB_SSL: 'true', VECTOR_DB_PROVIDER: 'pgvector', VECTOR_DB_DIMENSIONS: '768' });
    expect(c.vector).toMatchObject({ provider: 'pgvector', dimensions: 768, connection: { host: 'db', port: 5433, database: 'app', username: 'u', password: 'p', ssl: true } });
  });

  it('runs migrations in-process unless MIGRATION_QUEUE=bullmq, which needs REDIS_URL; names bad queue settings', () => {
    expect(loadConfig({}).migration.queue).toMatchObject({ kind: 'inprocess', prefix: 'switchyard', partitionSize: 10_000, concurrency: 1, rateLimit: 0, lockMs: 30_000, attempts: 5 });
    expect(loadConfig({ MIGRATION_QUEUE: 'bullmq', REDIS_URL: 'redis://127.0.0.1:6379', MIGRATION_PARTITION_SIZE: '500', MIGRATION_RATE_LIMIT: '2000' }).migration.queue).toMatchObject({ kind: 'bullmq', redisUrl: 'redis://127.0.0.1:6379', partitionSize: 500, rateLimit: 2000 });
    expect(issues({ MIGRATION_QUEUE: 'bullmq' })).toEqual([expect.stringMatching(/^REDIS_URL: is required with MIGRATION_QUEUE=bullmq/)]);
    expect(issues({ MIGRATION_QUEUE: 'kafka', REDIS_URL: 'http://x', MIGRATION_QUEUE_PREFIX: 'a b', MIGRATION_WORKER_CONCURRENCY: '0' })).toEqual([
      'MIGRATION_QUEUE: got "kafka"; allowed: inprocess, bullmq',
      expect.stringMatching(/^REDIS_URL: got "http:\/\/x"; allowed: a redis:\/\/ or rediss:\/\/ URL/),
      expect.stringMatching(/^MIGRATION_QUEUE_PREFIX: got "a b"/),
      expect.stringMatching(/^MIGRATION_WORKER_CONCURRENCY: got "0"/),
    ]);
  });

  it('reads named migration source profiles from MIGRATION_<NAME>_*', () => {
    const c = loadConfig({
      RELATIONAL_DB_PROVIDER: 'postgres',
      RELATIONAL_DB_URL: 'postgres://u:p@h:5432/app',
      VECTOR_DB_PROVIDER: 'pgvector',
      MIGRATION_SOURCE_RELATIONAL_DB_PROVIDER: 'sqlite',
      MIGRATION_SOURCE_RELATIONAL_DB_DATABASE: './data/dev.sqlite',
      MIGRATION_SOURCE_VECTOR_DB_PROVIDER: 'chromadb',
      MIGRATION_SOURCE_VECTOR_DB_CHROMA_URL: 'http://chroma:8000',
      MIGRATION_OLD_PG_RELATIONAL_DB_PROVIDER: 'sqlite',
      MIGRATION_OLD_PG_RELATIONAL_DB_DATABASE: './old.sqlite',
      MIGRATION_OLD_PG_VECTOR_DB_PROVIDER: 'sqlite-vec',
    });
    expect(c.migration.profiles.source).toMatchObject({ name: 'source', relational: { provider: 'sqlite', database: './data/dev.sqlite' }, vector: { provider: 'chromadb', url: 'http://chroma:8000', dimensions: 384 } });
    expect(Object.keys(c.migration.profiles).sort()).toEqual(['old_pg', 'source']);
    expect(issues({ MIGRATION_SOURCE_VECTOR_DB_PROVIDER: 'milvus' })).toEqual(['MIGRATION_SOURCE_VECTOR_DB_PROVIDER: got "milvus"; allowed: sqlite-vec, pgvector, chromadb']);
  });

  it('names the embedding model by hub id or local directory', () => {
    expect(embeddingModelName(loadConfig({}).embeddings)).toBe('Xenova/all-MiniLM-L6-v2');
    expect(embeddingModelName(loadConfig({ EMBEDDINGS_XENOVA_MODEL_PATH: '/models/my-model' }).embeddings)).toBe('my-model');
  });

  it('reads the readiness probe timeout (HEALTH_TIMEOUT_MS, default 1500 ms) and names a bad one', () => {
    expect(loadConfig({}).health).toEqual({ timeoutMs: 1500 });
    expect(loadConfig({ HEALTH_TIMEOUT_MS: '250' }).health.timeoutMs).toBe(250);
    for (const bad of ['0', '10', 'fast', '1.5', '60001']) {
      expect(issues({ HEALTH_TIMEOUT_MS: bad })).toEqual([`HEALTH_TIMEOUT_MS: got "${bad}"; allowed: a number of milliseconds (50..60000)`]);
    }
  });
});
