import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { Browser, chromium, Page } from 'playwright-core';
import request from 'supertest';
import { sqliteChromaProfile, startApp, TestApp } from '../support/app';
import { repoRoot } from '../support/services';

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
    const text = await page.locator('table.grid').textContent();
    expect(text).toContain('pgvector');
    expect(text).toContain('postgres');
    expect(text).not.toContain('unreachable');
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

  it('loads nothing from anywhere but the app', () => {
    const origin = new URL(app.url);
    const foreign = requests.filter((u) => new URL(u).host !== origin.host);
    expect(requests.length).toBeGreaterThan(5);
    expect(foreign).toEqual([]);
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
