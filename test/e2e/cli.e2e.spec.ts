import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { freshDir, freshPostgres, serviceEnv } from '../support/services';
import { stackEnv } from '../support/app';
import { startApp } from '../support/app';

const ROOT = path.resolve(__dirname, '../..');

/** Runs `switchyard <args>` (the CLI entry, from source) with env; resolves with its exit code and output. */
function cli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/api/src/cli.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: 'tsconfig.json', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('switchyard CLI: migrate SQLite + sqlite-vec -> PostgreSQL + pgvector', () => {
  let env: Record<string, string>;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    // A dev deployment with data, indexed through the real app.
    const dev = await startApp('sqlite+sqlite-vec');
    const alice = dev.token('alice');
    for (let i = 0; i < 30; i++) {
      await dev.gql(`mutation($input: IndexDocumentInput!) { indexDocument(input: $input) { id } }`, { input: { documentId: `d${i}`, content: `Document ${i} is about the fast car and the happy dog.` } }, alice);
    }
    const devDb = dev.config.relational.provider === 'sqlite' ? dev.config.relational.database : '';
    const dir = freshDir('sy-cli-');
    // Keep the dev files: copy them out before the dev app's temp dir is removed.
    const { copyFileSync } = await import('node:fs');
    await dev.stop();
    copyFileSync(devDb, dir.file('dev.sqlite'));
    await dev.close();
    const pg = await freshPostgres('cli');
    const target = await stackEnv('postgres+pgvector');
    env = {
      ...target.env,
      RELATIONAL_DB_URL: pg.url,
      MIGRATION_SOURCE_RELATIONAL_DB_PROVIDER: 'sqlite',
      MIGRATION_SOURCE_RELATIONAL_DB_DATABASE: dir.file('dev.sqlite'),
      MIGRATION_SOURCE_VECTOR_DB_PROVIDER: 'sqlite-vec',
      EMBEDDINGS_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH'),
    };
    cleanup = async () => {
      await pg.drop();
      await target.cleanup();
      dir.remove();
    };
  });
  afterAll(async () => cleanup?.());

  it('plans, copies with a summary table, refuses a second copy under FAIL, and lists jobs', async () => {
    const plan = await cli(['migrate', 'relational', '--dry-run'], env);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/PLANNED/);
    expect(plan.stdout).toMatch(/"sourceCount": 30/);

    const rel = await cli(['migrate', 'relational'], env);
    expect(rel.stderr + rel.stdout).toMatch(/RELATIONAL/);
    expect(rel.code).toBe(0);
    expect(rel.stdout).toMatch(/table\s+read\s+written\s+skipped\s+errors\s+time/);
    expect(rel.stdout).toMatch(/documents\s+30\s+30\s+0\s+0/);
    expect(rel.stdout).toMatch(/verification: OK/);

    const vec = await cli(['migrate', 'vectors'], env);
    expect(vec.code).toBe(0);
    expect(vec.stdout).toMatch(/switchyard_embeddings\s+30\s+30\s+0\s+0/);
    expect(vec.stdout).toMatch(/recall@10 1\.000/);

    const again = await cli(['migrate', 'relational'], env);
    expect(again.code).toBe(1);
    expect(again.stderr + again.stdout).toMatch(/CONFLICT.*not empty/s);

    const status = await cli(['status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout.split('\n').filter((l) => /SUCCEEDED/.test(l))).toHaveLength(2);
  });

  it('runs a VECTORS copy as partitions on a `switchyard worker` process (MIGRATION_QUEUE=bullmq, real Redis), showing them on the bar', async () => {
    const pg = await freshPostgres('cliq');
    const prefix = `sy-test-cli-${Date.now()}`;
    const qenv = { ...env, RELATIONAL_DB_URL: pg.url, MIGRATION_QUEUE: 'bullmq', REDIS_URL: serviceEnv('REDIS_URL'), MIGRATION_QUEUE_PREFIX: prefix, MIGRATION_PARTITION_SIZE: '10' };
    const worker = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', 'apps/api/src/cli.ts', 'worker', '--concurrency', '2'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', TS_NODE_PROJECT: 'tsconfig.json', ...qenv },
    });
    let workerOut = '';
    worker.stderr.on('data', (d) => (workerOut += d));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
    try {
      for (let i = 0; i < 200 && !/waiting for partitions/.test(workerOut); i++) await new Promise((r) => setTimeout(r, 100));
      expect(workerOut).toMatch(/waiting for partitions/);
      const vec = await cli(['migrate', 'vectors'], qenv);
      expect({ code: vec.code, out: vec.stdout }).toEqual({ code: 0, out: expect.stringMatching(/verification: OK/) });
      expect(vec.stdout).toMatch(/switchyard_embeddings\s+30\s+30\s+0\s+0/);
      expect(vec.stderr).toMatch(/\d+\/4 partitions on \d+ worker/);
      const status = await cli(['status'], qenv);
      // 30 chunks in ranges of 10: three full ranges and the open-ended one above the last split point.
      expect(status.stdout).toMatch(/VECTORS\s+SUCCEEDED.*\(done, 4\/4 partitions on 0 workers, [4-9] attempts\)/);
      worker.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      worker.kill('SIGKILL');
      await pg.drop();
    }
  });

  it('rejects a bad command or kind with usage and a non-zero exit', async () => {
    const bad = await cli(['migrate', 'tables'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/expected one of relational, vectors, reindex, full-stack; got "tables"/);
    const notNumber = await cli(['models', 'switch', 'two'], env);
    expect({ code: notNumber.code, err: notNumber.stderr }).toEqual({ code: 1, err: expect.stringContaining('BAD_INPUT: generation is a whole number; got "two"') });
    const none = await cli([], env);
    expect(none.code).toBe(2);
    expect(none.stdout).toMatch(/usage: switchyard/i);
    expect(none.stdout).toMatch(/migrate \[options\] <kind>/);
  });

  it('switches the embedding model with `migrate reindex --blue-green` and `models switch / drop`', async () => {
    // The copied deployment (30 documents, 32-dim test model) gains a next model of 48 dims.
    const next = { ...env, EMBEDDINGS_NEXT_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH_ALT') };
    const build = await cli(['migrate', 'reindex', '--blue-green'], next);
    if (build.code !== 0) throw new Error(`exit ${build.code}: ${build.stdout}\n${build.stderr.slice(-1500)}`);
    expect(build.stdout).toMatch(/^job .*: SUCCEEDED$/m);
    expect(build.stdout).toMatch(/switchyard_embeddings_g2\s+30\s+30\s+0\s+0/);
    expect(build.stdout).toMatch(/verification: OK/);

    const flip = await cli(['models', 'switch', '2'], next);
    expect({ code: flip.code, out: flip.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^\s+2\s+ACTIVE\s+switchyard-test-mini-48 \(48 dims\) in switchyard_embeddings_g2, built by job /) });
    const gc = await cli(['models', 'drop', '1', '--grace-ms', '0'], next);
    expect({ code: gc.code, out: gc.stdout }).toEqual({ code: 0, out: expect.stringMatching(/1\s+DROPPED.*\nbackup: 30 records in backups\/.*\.ndjson/s) });
    const list = await cli(['models'], next);
    expect(list.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(0, 2))).toEqual([
      ['1', 'DROPPED'],
      ['2', 'ACTIVE'],
    ]);
  });
});
