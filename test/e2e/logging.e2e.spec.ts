import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { mintToken } from '../../apps/api/src/auth/auth';
import { serviceEnv } from '../support/services';

const ROOT = path.resolve(__dirname, '../..');
const SECRET = 'logging-test-secret-0123456789abcdefXYZ';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The real entry point in a child process, as it runs in production: its stdout must be JSON lines (pino),
 * each request's lines carry its id (the caller's x-request-id, echoed back), no token or document text
 * is ever written, and a malformed JSON body is a 400 answer and an info line, not an error with a stack.
 */
describe('structured logs of the running app (nestjs-pino)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-logs-'));
  let child: ChildProcess;
  let out = '';
  let url = '';

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/api/src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        TS_NODE_PROJECT: 'tsconfig.json',
        NODE_ENV: 'production',
        LOG_LEVEL: 'info',
        PORT: String(port),
        HOST: '127.0.0.1',
        AUTH_JWT_SECRET: SECRET,
        RELATIONAL_DB_DATABASE: path.join(dir, 'app.sqlite'),
        MIGRATION_DATA_DIR: path.join(dir, 'migrations'),
        EMBEDDINGS_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'),
        VECTOR_DB_DIMENSIONS: '32',
        LLM_URL: 'http://127.0.0.1:1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    for (let waited = 0; !/listening on/.test(out); waited += 100) {
      if (waited > 60_000 || child.exitCode !== null) throw new Error(`the app did not start:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 90_000);

  afterAll(async () => {
    child?.kill('SIGTERM');
    await new Promise((r) => (child?.exitCode !== null ? r(null) : child.once('exit', r)));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown> & { req?: { id?: string }; level?: number; msg?: string };
        } catch {
          return { unparsed: l };
        }
      });

  it('writes JSON lines with the request id, and never the token or the document text', async () => {
    const token = mintToken(SECRET, 'log-user');
    const secretText = 'The launch code is 0000-TOP-SECRET';
    const res = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'x-request-id': 'req-abc-123' },
      body: JSON.stringify({ query: 'mutation($c: String!) { indexDocument(input: { documentId: "d1", content: $c }) { id } }', variables: { c: secretText } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('req-abc-123');
    await new Promise((r) => setTimeout(r, 200));
    expect(lines().filter((l) => 'unparsed' in l)).toEqual([]);
    const mine = lines().filter((l) => l.req?.id === 'req-abc-123');
    expect(mine.length).toBeGreaterThanOrEqual(1);
    expect(out).not.toContain(token);
    expect(out).not.toContain(secretText);
    // a request without an id gets one, and it is sent back
    const other = await fetch(`${url}/health/live`);
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a malformed JSON body with 400 and logs it as info, without an error or a stack', async () => {
    const before = lines().length;
    const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'bad-json-1' }, body: '{"query": "{ documents { id } }"' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ errors: [{ message: expect.stringMatching(/JSON/), extensions: { code: 'BAD_REQUEST' } }] });
    await new Promise((r) => setTimeout(r, 200));
    const after = lines().slice(before);
    expect(after.filter((l) => (l.level ?? 0) >= 50)).toEqual([]); // pino: 50 = error
    expect(JSON.stringify(after)).not.toMatch(/SyntaxError|at JSON\.parse|\n\s+at /);
    expect(after.some((l) => l.req?.id === 'bad-json-1' && (l.res as { statusCode?: number } | undefined)?.statusCode === 400)).toBe(true);
  });
});
