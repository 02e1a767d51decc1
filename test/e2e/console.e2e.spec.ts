import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import request from 'supertest';
import { MigrationService } from '@switchyard/migration';
import { sqliteChromaProfile, startApp, TestApp } from '../support/app';
import { repoRoot, serviceEnv } from '../support/services';
import { makeRecords } from '../../libs/vector-db/src/testing/records';
import { VectorCollection } from '../../libs/migration/src/datasets';
import { VectorDb } from '@switchyard/vector-db';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Debian's Chromium as root, headless, with nothing that reaches out (this machine's network is closed). */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
const INDEX = `mutation($input: IndexDocumentInput!) { indexDocument(input: $input) { id chunkCount } }`;
const ARTIFACTS = path.join(repoRoot(), 'test-artifacts');

/** Builds the console (dist/console) when it is missing or older than its sources: the app serves what is there at boot. */
function buildConsole(): void {
  const root = repoRoot();
  const built = path.join(root, 'dist/console/index.html');
  const newest = (dir: string): number => Math.max(...readdirSync(dir).map((f) => (statSync(path.join(dir, f)).isDirectory() ? newest(path.join(dir, f)) : statSync(path.join(dir, f)).mtimeMs)));
  if (existsSync(built) && statSync(built).mtimeMs >= newest(path.join(root, 'apps/console'))) return;
  execFileSync(process.execPath, [path.join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'apps/console/vite.config.mjs'], { cwd: root, stdio: 'inherit' });
}

/**
 * The operator console in a real headless Chromium against the real app: PostgreSQL + pgvector as the
 * active stack, a SQLite + Chroma dev stack as the source profile. Log in (a non-admin token is refused),
 * plan, migrate, watch the bar reach 100 % and the verification say OK, replace and restore from the
 * backup; every request the page makes goes to the app itself.
 */
describe('operator console (/console) in headless Chromium', () => {
  let dev: TestApp;
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const collection = `console_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install Debian's package (npm run setup:browser) or set CHROMIUM_PATH`);
    buildConsole();
    dev = await startApp('sqlite+chromadb', { VECTOR_DB_COLLECTION: collection });
    for (let i = 0; i < 12; i++) {
      const r = await dev.gql(INDEX, { input: { documentId: `doc-${i}`, content: `Document ${i}: the mechanic repaired engine ${i} and replaced the brakes, then wrote it down. `.repeat(4) } }, dev.token(`user-${i % 3}`));
      if (r.errors) throw new Error(JSON.stringify(r.errors));
    }
    await dev.stop();
    app = await startApp('postgres+pgvector', sqliteChromaProfile(dev, collection));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
    page = await (await browser.newContext({ viewport: { width: 1200, height: 900 } })).newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('dialog', (d) => void d.accept());
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await dev?.close();
  });

  const status = () => page.getByTestId('status');

  it('refuses a token without the admin role, then signs an admin in and shows the active providers', async () => {
    await page.goto(`${app.url}/console/`);
    await page.getByLabel('Admin token').fill(app.token('reader', ['user']));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not an admin');
    await expect(page.getByRole('button', { name: 'Development login' }).count()).resolves.toBe(0);

    await page.getByLabel('Admin token').fill(app.token('ops', ['admin']));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Active providers' }).waitFor();
    const text = await page.locator('table.grid').first().textContent();
    expect(text).toContain('pgvector');
    expect(text).toContain('postgres');
    expect(text).not.toContain('unreachable');
    // the source profile, opened read-only: both sides reachable, the vector store's stored shape and count
    const profiles = page.getByTestId('profiles');
    await profiles.waitFor();
    const p = await profiles.textContent();
    expect(p).toContain('source · relational');
    expect(p).toMatch(/source · vector\s*chromadb\s*reachable/);
    expect(p).toContain(`collection: ${collection}`);
    expect(p).toContain('storedDimensions: 32');
    expect(p).not.toContain('unreachable');
  });

  it('plans a FULL_STACK migration, runs it, and shows the bar at 100 % and the verification OK', async () => {
    await page.getByRole('link', { name: 'Plan' }).click();
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByText('The plan is accepted').waitFor();
    const plan = await page.locator('.plan table').textContent();
    expect(plan).toContain('documents');
    await page.getByRole('button', { name: 'Start FULL_STACK' }).click();
    await page.waitForURL(/#\/job\//);
    await page.getByTestId('job-id').filter({ hasText: page.url().split('#/job/')[1] }).waitFor();
    await page.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 120_000 });
    expect(await status().textContent()).toBe('SUCCEEDED');
    await expect(page.getByTestId('total-bar').getAttribute('data-pct')).resolves.toBe('100');
    await expect(page.getByTestId('verification').textContent()).resolves.toBe('OK');
    expect(await page.locator('.job table.grid').textContent()).toContain('match');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'console-job.png'), fullPage: true });
  });

  it('replaces the target with TRUNCATE (a backup first), then restores it from the job page', async () => {
    await page.getByRole('link', { name: 'Plan' }).click();
    await page.getByLabel('kind').selectOption('VECTORS');
    await page.getByLabel('onConflict').selectOption('TRUNCATE');
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.getByText('The plan is accepted').waitFor();
    await page.getByRole('button', { name: 'Start VECTORS' }).click();
    await page.waitForURL(/#\/job\//);
    await page.getByTestId('job-id').filter({ hasText: page.url().split('#/job/')[1] }).waitFor();
    await page.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 120_000 });
    expect(await status().textContent()).toBe('SUCCEEDED');
    await page.getByRole('heading', { name: 'Backups' }).waitFor();
    const first = page.url();
    await page.getByRole('button', { name: 'Restore backup' }).click();
    await page.waitForURL((u) => u.toString() !== first && /#\/job\//.test(u.toString()));
    // The page of the new job (not the one just left), then its end.
    const restoreId = page.url().split('#/job/')[1];
    await page.getByTestId('job-id').filter({ hasText: restoreId }).waitFor();
    expect(await page.locator('h2').textContent()).toContain('RESTORE');
    await page.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 120_000 });
    expect(await status().textContent()).toBe('SUCCEEDED');

    await page.getByRole('link', { name: 'History' }).click();
    const history = await page.locator('table.grid').textContent();
    expect(history).toContain('FULL_STACK');
    expect(history).toContain('RESTORE');
  });

  it('downloads the reject file of a job that set records aside (admin session only)', async () => {
    // An import with a wrong-dimension and a NaN vector: both set aside with their reason, the rest verified.
    const vector = app.app.get(VectorDb);
    const info = await vector.describe();
    const codec = new VectorCollection(vector);
    const nan = makeRecords(1, 32, { seed: 5, prefix: 'nan' })[0];
    nan.embedding = Float32Array.from(nan.embedding, (x, i) => (i === 3 ? NaN : x));
    const lines = [
      { format: 'switchyard-ndjson', version: 1, kind: 'VECTORS', createdAt: new Date().toISOString(), source: 'test', collection: 'x', dimensions: 32, metric: 'cosine', model: info.storedModel },
      ...makeRecords(5, 32, { seed: 4, prefix: 'imported' }).map((r) => codec.encode(r)),
      codec.encode(makeRecords(1, 4, { seed: 6, prefix: 'short' })[0]),
      codec.encode(nan),
    ];
    writeFileSync(path.join(app.config.migration.dataDir, 'bad.ndjson'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const started = await app.gql<{ importData: { id: string } }>('mutation { importData(input: { kind: VECTORS, path: "bad.ndjson", onConflict: SKIP }) { id } }', {}, app.token('ops', ['admin']));
    expect(started.errors).toBeUndefined();
    const id = started.data!.importData.id;
    await page.goto(`${app.url}/console/#/job/${id}`);
    await page.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 60_000 });
    expect(await status().textContent()).toBe('SUCCEEDED_WITH_REJECTS');
    await expect(page.getByTestId('rejects').textContent()).resolves.toContain('2 records set aside');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('rejects-download').click()]);
    expect(download.suggestedFilename()).toBe(`${id}.ndjson`);
    const got = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; reason: string });
    expect(got.map((r) => [r.id, r.reason])).toEqual([
      ['short-0000000', expect.stringMatching(/4 dimensions/)],
      ['nan-0000000', expect.stringMatching(/embedding\[3\] is not a finite number/)],
    ]);
    // Not without the admin's session: no cookie, a non-admin token, an unknown job.
    const http = request(app.app.getHttpServer());
    const noSession = await http.get(`/console/api/jobs/${id}/rejects`).expect(401);
    expect(noSession.body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    await http.get(`/console/api/jobs/${id}/rejects`).set('authorization', `Bearer ${app.token('reader', ['user'])}`).expect(403);
    await http.post('/console-auth/session').set('authorization', `Bearer ${app.token('reader', ['user'])}`).expect(403);
    await http.get('/console/api/jobs/no-such-job/rejects').set('authorization', `Bearer ${app.token('ops', ['admin'])}`).expect(404);
  });

  it('exports the active store\'s vectors to a file, then imports that file into another deployment, from the console', async () => {
    const file = 'exports/console-vectors.ndjson';
    const onDisk = path.join(app.config.migration.dataDir, file);
    const vector = app.app.get(VectorDb);
    const ids: string[] = [];
    for await (const batch of vector.scan(500)) ids.push(...batch.map((r) => r.id));
    expect(ids.length).toBeGreaterThan(10);
    expect(ids.length).toBe(await vector.count());

    await page.getByRole('link', { name: 'Export', exact: true }).click();
    await page.getByRole('heading', { name: 'Export to a file' }).waitFor();
    // the source profiles are offered beside the active providers (the default)
    await page.locator('option[value="source"]').waitFor({ state: 'attached' });
    await page.getByLabel('kind').selectOption('VECTORS');
    await expect(page.getByLabel('source profile').inputValue()).resolves.toBe('');
    await page.getByLabel('file', { exact: true }).fill(file);
    await page.getByRole('button', { name: 'Export VECTORS' }).click();
    await page.waitForURL(/#\/job\//);
    const exportId = page.url().split('#/job/')[1];
    await page.getByTestId('job-id').filter({ hasText: exportId }).waitFor();
    await page.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 60_000 });
    expect(await status().textContent()).toBe('SUCCEEDED');
    expect(await page.locator('h2').textContent()).toContain('EXPORT');
    await expect(page.getByTestId('data-file').textContent()).resolves.toContain(`Written to ${file}`);
    await expect(page.getByTestId('verification').textContent()).resolves.toBe('OK');
    // the file really holds the store: a header line, then one line per record
    expect(readFileSync(onDisk, 'utf8').trim().split('\n').length).toBe(ids.length + 1);

    // The same path again: the API's CONFLICT in the page, the form as it was typed.
    await page.getByRole('link', { name: 'Export', exact: true }).click();
    await page.getByLabel('file', { exact: true }).fill(file);
    await page.getByRole('button', { name: 'Export VECTORS' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain(`${file} already exists in the data dir`);
    await expect(page.getByLabel('file', { exact: true }).inputValue()).resolves.toBe(file);
    expect(page.url()).toMatch(/#\/export$/);

    // From the export's page, "Import this file…" opens the Import form on that file.
    await page.goto(`${app.url}/console/#/job/${exportId}`);
    await page.getByRole('link', { name: 'Import this file…' }).click();
    await page.getByRole('heading', { name: 'Import a file' }).waitFor();
    await expect(page.getByLabel('file', { exact: true }).inputValue()).resolves.toBe(file);
    // Invalid input: the API's message in the page, nothing lost.
    await page.getByLabel('kind').selectOption('RELATIONAL');
    await page.getByRole('button', { name: 'Import RELATIONAL' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain(`${file} holds a VECTORS export, not RELATIONAL`);
    // a path outside the data dir is refused before any job is recorded
    const jobsBefore = (await app.gql<{ migrations: unknown[] }>('{ migrations { id } }', {}, app.token('ops', ['admin']))).data!.migrations.length;
    await page.getByLabel('kind').selectOption('VECTORS');
    await page.getByLabel('onConflict').selectOption('SKIP');
    await page.getByLabel('file', { exact: true }).fill('../outside.ndjson');
    await page.getByRole('button', { name: 'Import VECTORS' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toMatch(/"\.\.\/outside\.ndjson" contains "\.\."; it must name a file inside the migration data dir/);
    await expect(page.getByLabel('file', { exact: true }).inputValue()).resolves.toBe('../outside.ndjson');
    await expect(page.getByLabel('kind').inputValue()).resolves.toBe('VECTORS');
    await expect(page.getByLabel('onConflict').inputValue()).resolves.toBe('SKIP');
    expect(page.url()).toMatch(/#\/import/);
    expect((await app.gql<{ migrations: unknown[] }>('{ migrations { id } }', {}, app.token('ops', ['admin']))).data!.migrations.length).toBe(jobsBefore);

    // Another deployment (SQLite + sqlite-vec, empty) on the same data dir imports the file.
    const target = await startApp('sqlite+sqlite-vec', { MIGRATION_DATA_DIR: app.config.migration.dataDir });
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    try {
      const into = target.app.get(VectorDb);
      expect(await into.count()).toBe(0);
      const t = await ctx.newPage();
      const seen: string[] = [];
      t.on('request', (r) => seen.push(r.url()));
      await t.goto(`${target.url}/console/#/import/${encodeURIComponent(file)}`);
      await t.getByLabel('Admin token').fill(target.token('ops', ['admin']));
      await t.getByRole('button', { name: 'Sign in' }).click();
      await t.getByRole('heading', { name: 'Import a file' }).waitFor();
      await expect(t.getByLabel('file', { exact: true }).inputValue()).resolves.toBe(file);
      await t.getByRole('button', { name: 'Dry run' }).click();
      await t.getByText('The plan is accepted').waitFor({ timeout: 60_000 });
      await t.screenshot({ path: path.join(ARTIFACTS, 'console-import.png'), fullPage: true });
      expect(await into.count()).toBe(0);
      await t.getByRole('button', { name: 'Import VECTORS' }).click();
      await t.waitForURL(/#\/job\//);
      await t.getByTestId('job-id').filter({ hasText: t.url().split('#/job/')[1] }).waitFor();
      await t.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 60_000 });
      expect(await t.getByTestId('status').textContent()).toBe('SUCCEEDED');
      expect(await t.locator('h2').textContent()).toContain('IMPORT');
      await expect(t.getByTestId('data-file').textContent()).resolves.toContain(`Read from ${file}`);
      // what arrived, read from the target store itself: every exported record, by id
      expect(await into.count()).toBe(ids.length);
      expect((await into.existingIds(ids)).length).toBe(ids.length);
      expect(seen.filter((u) => new URL(u).host !== new URL(target.url).host)).toEqual([]);
    } finally {
      await ctx.close();
      await target.close();
    }
  }, 180_000);

  it('loads nothing from anywhere but the app', () => {
    const origin = new URL(app.url);
    const foreign = requests.filter((u) => new URL(u).host !== origin.host);
    expect(requests.length).toBeGreaterThan(5);
    expect(foreign).toEqual([]);
  });

  it('with MIGRATION_QUEUE=bullmq: bull-board at /console/queues shows the queued run, behind the admin session', async () => {
    const queued = await startApp('postgres+pgvector', { ...sqliteChromaProfile(dev, collection), MIGRATION_QUEUE: 'bullmq', REDIS_URL: serviceEnv('REDIS_URL'), MIGRATION_QUEUE_PREFIX: `sy-test-console-${Date.now()}`, MIGRATION_PARTITION_SIZE: '10' });
    const worker = queued.app.get(MigrationService).startWorker({ concurrency: 1 });
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    try {
      const admin = queued.token('ops', ['admin']);
      const started = await queued.gql<{ startMigration: { id: string } }>('mutation { startMigration(input: { kind: VECTORS, source: "source" }) { id } }', {}, admin);
      expect(started.errors).toBeUndefined();
      const q = await ctx.newPage();
      const seen: string[] = [];
      q.on('request', (r) => seen.push(r.url()));
      await q.goto(`${queued.url}/console/#/job/${started.data!.startMigration.id}`);
      await q.getByLabel('Admin token').fill(admin);
      await q.getByRole('button', { name: 'Sign in' }).click();
      await q.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 120_000 });
      expect(await q.getByTestId('status').textContent()).toBe('SUCCEEDED');
      await q.getByRole('link', { name: 'Queues' }).waitFor();
      await q.goto(`${queued.url}/console/queues/`);
      await q.getByText('migration-partitions').first().waitFor({ timeout: 30_000 });
      expect(await q.content()).toContain('migration-runs');
      // the run's partitions, done: each named by the migration job's id
      await q.goto(`${queued.url}/console/queues/queue/migration-partitions?status=completed`);
      await q.getByText(started.data!.startMigration.id).first().waitFor({ timeout: 30_000 });
      await q.screenshot({ path: path.join(ARTIFACTS, 'console-queues.png'), fullPage: true });
      expect(seen.filter((u) => new URL(u).host !== new URL(queued.url).host)).toEqual([]);
      // bull-board's API, without the session or with a non-admin token: refused
      const http = request(queued.app.getHttpServer());
      await http.get('/console/queues/api/queues').expect(401);
      await http.get('/console/queues/api/queues').set('authorization', `Bearer ${queued.token('reader', ['user'])}`).expect(403);
      const api = await http.get('/console/queues/api/queues').set('authorization', `Bearer ${admin}`).expect(200);
      expect(JSON.stringify(api.body)).toContain('migration-partitions');
      // without the queue runner there is no dashboard
      await request(app.app.getHttpServer()).get('/console/queues/api/queues').set('authorization', `Bearer ${app.token('ops', ['admin'])}`).expect(404);
    } finally {
      await ctx.close();
      await worker.close();
      await queued.close();
    }
  });

  it('Models: a BLUE_GREEN re-index, then cut over to the new model and roll back, from the console', async () => {
    const bg = await startApp('sqlite+sqlite-vec', { EMBEDDINGS_NEXT_XENOVA_MODEL_PATH: serviceEnv('TEST_EMBEDDINGS_MODEL_PATH_ALT'), KNOWLEDGE_GENERATION_POLL_MS: '100' });
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    try {
      const admin = bg.token('ops', ['admin']);
      for (let i = 0; i < 4; i++) expect((await bg.gql(INDEX, { input: { documentId: `m-${i}`, content: `The mechanic replaced the brakes of car ${i}.` } }, bg.token('alice'))).errors).toBeUndefined();
      const m = await ctx.newPage();
      m.on('dialog', (d) => void d.accept());
      await m.goto(`${bg.url}/console/#/plan`);
      await m.getByLabel('Admin token').fill(admin);
      await m.getByRole('button', { name: 'Sign in' }).click();
      await m.getByLabel('kind').selectOption('REINDEX');
      await m.getByLabel('mode').selectOption('BLUE_GREEN');
      // no dry run for BLUE_GREEN (the API refuses one: it writes only the new generation)
      await expect(m.getByRole('button', { name: 'Dry run' }).count()).resolves.toBe(0);
      await m.getByRole('button', { name: 'Start REINDEX' }).click();
      await m.waitForURL(/#\/job\//);
      await m.getByTestId('status').filter({ hasText: /SUCCEEDED|FAILED/ }).waitFor({ timeout: 60_000 });
      expect(await m.getByTestId('status').textContent()).toBe('SUCCEEDED');
      await m.getByRole('link', { name: 'Cut over…' }).click();
      const building = m.locator('tr[data-state="BUILDING"]');
      await building.waitFor();
      await building.getByRole('button', { name: 'Cut over' }).click();
      await m.getByRole('status').filter({ hasText: 'is active' }).waitFor();
      const active = async () => (await bg.gql<{ modelGenerations: { id: number; state: string; model: string }[] }>('{ modelGenerations { id state model } }', {}, admin)).data!.modelGenerations.find((g) => g.state === 'ACTIVE')!;
      const switched = await active();
      expect(switched.model).toContain('48');
      await m.locator('tr[data-state="ACTIVE"]').getByRole('button', { name: 'Roll back' }).click();
      await m.getByRole('status').filter({ hasText: 'Rolled back' }).waitFor();
      expect((await active()).id).not.toBe(switched.id);
    } finally {
      await ctx.close();
      await bg.close();
    }
  });

  it('development login: one click only in development with the public development secret; 404 elsewhere', async () => {
    await request(app.app.getHttpServer()).post('/console-auth/dev-login').expect(404);
    const ownSecret = await startApp('sqlite+sqlite-vec', { NODE_ENV: 'development' });
    const devApp = await startApp('sqlite+sqlite-vec', { NODE_ENV: 'development', AUTH_JWT_SECRET: '' });
    try {
      await request(ownSecret.app.getHttpServer()).post('/console-auth/dev-login').expect(404);
      await request(devApp.app.getHttpServer()).head('/console-auth/dev-login').expect(204);
      const r = await request(devApp.app.getHttpServer()).post('/console-auth/dev-login').expect(201);
      const check = await devApp.gql('{ migrations { id } }', {}, r.body.token);
      expect(check.errors).toBeUndefined();
    } finally {
      await devApp.close();
      await ownSecret.close();
    }
  });
});
