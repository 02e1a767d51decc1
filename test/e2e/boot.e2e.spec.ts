import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { serviceEnv } from '../support/services';

const ROOT = path.resolve(__dirname, '../..');

/** Starts the real entry point in a child process, as a user would, with the given env. */
function boot(env: Record<string, string>) {
  return spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/api/src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: 'tsconfig.json', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('app start-up with a bad environment', () => {
  it('exits non-zero and names each bad variable and what is allowed', () => {
    const r = boot({ RELATIONAL_DB_PROVIDER: 'postgres', RELATIONAL_DB_PORT: 'abc', VECTOR_DB_PROVIDER: 'weaviate', VECTOR_DB_DIMENSIONS: '0' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Invalid configuration');
    expect(r.stderr).toContain('RELATIONAL_DB_HOST: is required when RELATIONAL_DB_PROVIDER=postgres');
    expect(r.stderr).toContain('RELATIONAL_DB_PORT: got "abc"; allowed: a TCP port number');
    expect(r.stderr).toContain('VECTOR_DB_PROVIDER: got "weaviate"; allowed: sqlite-vec, pgvector, chromadb');
    expect(r.stderr).toContain('VECTOR_DB_DIMENSIONS: got "0"; allowed: a positive integer');
  });

  it('exits non-zero naming the provider when a configured server is unreachable', () => {
    const r = boot({ RELATIONAL_DB_PROVIDER: 'postgres', RELATIONAL_DB_HOST: '127.0.0.1', RELATIONAL_DB_PORT: '1', RELATIONAL_DB_DATABASE: 'x', EMBEDDINGS_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), VECTOR_DB_DIMENSIONS: '32' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/PROVIDER_UNAVAILABLE: postgres relational database at postgres:\/\/127\.0\.0\.1:1\/x is unavailable/);
  });

  it('exits non-zero with the fix when the model makes vectors of other dimensions than VECTOR_DB_DIMENSIONS', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-boot-dims-'));
    try {
      const r = boot({ RELATIONAL_DB_DATABASE: path.join(dir, 'a.sqlite'), VECTOR_DB_SQLITE_PATH: path.join(dir, 'a.sqlite'), MIGRATION_DATA_DIR: path.join(dir, 'm'), EMBEDDINGS_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), VECTOR_DB_DIMENSIONS: '384' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/DIMENSION_MISMATCH: the embedding model "switchyard-test-mini" makes 32-dimensional vectors, but the sqlite-vec store is configured for 384 \(VECTOR_DB_DIMENSIONS\)\. Set VECTOR_DB_DIMENSIONS=32/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits non-zero naming the provider when a configured server accepts connections but never answers', async () => {
    // A TCP server that accepts and stays silent: a stalled Chroma.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-boot-stall-'));
    try {
      const port = (silent.address() as { port: number }).port;
      const env = { VECTOR_DB_PROVIDER: 'chromadb', VECTOR_DB_CHROMA_URL: `http://127.0.0.1:${port}`, VECTOR_DB_TIMEOUT_MS: '1500', RELATIONAL_DB_DATABASE: path.join(dir, 'a.sqlite'), MIGRATION_DATA_DIR: path.join(dir, 'm'), EMBEDDINGS_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'), VECTOR_DB_DIMENSIONS: '32' };
      const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/api/src/main.ts'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: 'tsconfig.json', ...env } });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const code = await new Promise<number | null>((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 60_000); // it must not sit there
        child.on('exit', (c) => {
          clearTimeout(kill);
          resolve(c);
        });
      });
      expect(code).toBe(1);
      expect(out).toMatch(/PROVIDER_UNAVAILABLE|ProviderUnavailableError/);
      expect(out).toMatch(/chromadb vector store/);
    } finally {
      silent.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
