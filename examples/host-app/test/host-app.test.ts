import 'reflect-metadata';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

/**
 * Boots the host app on SQLite + sqlite-vec in a temp dir with the small generated embeddings model, and
 * talks to it over HTTP: host users and notes (its own entities), indexing, user-scoped search, delete.
 * The LLM (Ollama) is never contacted. Run by `npm run test:host` at the repository root.
 */

// dist/test/host-app.test.js -> examples/host-app
const HOST_ROOT = path.resolve(__dirname, '..', '..');
const PACKAGES = ['core', 'relational-db', 'vector-db', 'embeddings', 'llm', 'knowledge', 'migration'].map((l) => `@switchyard/${l}`);

/** The generated test model: TEST_EMBEDDINGS_MODEL_PATH (set by scripts/test-host-app.js), else the repo's generator. */
function testModelPath(): string {
  if (process.env.TEST_EMBEDDINGS_MODEL_PATH) return process.env.TEST_EMBEDDINGS_MODEL_PATH;
  const generator = path.resolve(HOST_ROOT, '..', '..', 'scripts', 'generate-test-model.js');
  const { ensureTestModels } = require(generator) as { ensureTestModels(): { TEST_EMBEDDINGS_MODEL_PATH: string } };
  return ensureTestModels().TEST_EMBEDDINGS_MODEL_PATH;
}

describe('host app on the installed @switchyard/* packages', { timeout: 120_000 }, () => {
  let dir: string;
  let app: INestApplication;
  let base: string;

  async function http(method: string, url: string, body?: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-host-app-'));
    Object.assign(process.env, {
      NODE_ENV: 'test',
      RELATIONAL_DB_PROVIDER: 'sqlite',
      RELATIONAL_DB_DATABASE: path.join(dir, 'host.sqlite'),
      VECTOR_DB_PROVIDER: 'sqlite-vec',
      VECTOR_DB_SQLITE_PATH: path.join(dir, 'vectors.sqlite'),
      VECTOR_DB_DIMENSIONS: '32',
      EMBEDDINGS_XENOVA_MODEL_PATH: testModelPath(),
      EMBEDDINGS_XENOVA_ALLOW_REMOTE: 'false',
      // Never contacted: the test does not ask for answers.
      LLM_URL: 'http://127.0.0.1:9',
      MIGRATION_DATA_DIR: path.join(dir, 'migrations'),
    });
    // Imported only now: the app's modules read process.env when Nest builds them.
    const { AppModule } = await import('../src/app.module');
    app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  after(async () => {
    await app?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs on the packages installed from the tarballs, not on the repository sources', () => {
    const nodeModules = fs.realpathSync(path.join(HOST_ROOT, 'node_modules')) + path.sep;
    for (const name of PACKAGES) {
      const resolved = fs.realpathSync(require.resolve(name));
      assert.ok(resolved.startsWith(nodeModules), `${name} resolves to ${resolved}, outside ${nodeModules}`);
      assert.ok(!fs.lstatSync(path.join(HOST_ROOT, 'node_modules', name)).isSymbolicLink(), `${name} is a symlink (file: folder), not an installed tarball`);
      const pkg = JSON.parse(fs.readFileSync(path.join(HOST_ROOT, 'node_modules', name, 'package.json'), 'utf8'));
      assert.equal(pkg.version, '0.2.0');
    }
    assert.equal(require.resolve('@switchyard/knowledge'), path.join(HOST_ROOT, 'node_modules', '@switchyard', 'knowledge', 'dist', 'index.js'));
  });

  it("saves and reads rows of the host's own entities, in its own `users` and `notes` tables", async () => {
    const alice = await http('POST', '/users', { id: 'alice', email: 'alice@example.com', displayName: 'Alice' });
    assert.equal(alice.status, 201, JSON.stringify(alice.json));
    assert.equal((await http('POST', '/users', { id: 'bob', email: 'bob@example.com', displayName: 'Bob' })).status, 201);
    const read = await http('GET', '/users/alice');
    assert.equal(read.status, 200);
    assert.deepEqual({ id: read.json.id, email: read.json.email, displayName: read.json.displayName }, { id: 'alice', email: 'alice@example.com', displayName: 'Alice' });
    assert.equal((await http('GET', '/users/nobody')).status, 404);
  });

  let carNote: { id: string; title: string; chunks: number };

  it('indexes notes over HTTP and finds them by meaning, per user', async () => {
    const notes = [
      { title: 'Garage', body: 'My car needs a new engine and the wheel is broken. I will drive it to the garage tomorrow.' },
      { title: 'Pets', body: 'The puppy likes to play in the park with other dogs every morning.' },
      { title: 'Work', body: 'We migrate the database schema and update every column of the users table.' },
    ];
    const created: Array<{ id: string; title: string; chunks: number }> = [];
    for (const n of notes) {
      const r = await http('POST', '/users/alice/notes', n);
      assert.equal(r.status, 201, JSON.stringify(r.json));
      assert.ok(r.json.chunks >= 1);
      created.push(r.json);
    }
    carNote = created[0];
    assert.equal((await http('POST', '/users/bob/notes', { title: 'Bob', body: 'I sold my automobile and bought a bike.' })).status, 201);

    const vehicle = await http('GET', `/users/alice/search?q=${encodeURIComponent('automobile repair')}&limit=3`);
    assert.equal(vehicle.status, 200, JSON.stringify(vehicle.json));
    assert.equal(vehicle.json[0].noteId, carNote.id);
    assert.equal(vehicle.json[0].title, 'Garage');
    assert.ok(vehicle.json.every((h: { noteId: string }) => created.some((c) => c.id === h.noteId)), 'only alice’s notes');

    const dog = await http('GET', `/users/alice/search?q=${encodeURIComponent('canine')}`);
    assert.equal(dog.json[0].noteId, created[1].id);
    const db = await http('GET', `/users/alice/search?q=${encodeURIComponent('datastore migration')}`);
    assert.equal(db.json[0].noteId, created[2].id);

    const bob = await http('GET', `/users/bob/search?q=${encodeURIComponent('car engine')}`);
    assert.equal(bob.json.length, 1);
    assert.equal(bob.json[0].title, 'Bob');

    const read = await http('GET', `/users/alice/notes/${carNote.id}`);
    assert.equal(read.status, 200);
    assert.equal(read.json.title, 'Garage');
    assert.equal(read.json.chunks, carNote.chunks);
    assert.equal((await http('GET', '/users/alice/notes')).json.length, 3);
  });

  it('reports Switchyard input errors as 400', async () => {
    const r = await http('GET', '/users/alice/search?q=%20');
    assert.equal(r.status, 400);
    assert.equal(r.json.code, 'BAD_INPUT');
  });

  it('deletes a note and its chunks', async () => {
    assert.equal((await http('DELETE', `/users/alice/notes/${carNote.id}`)).status, 204);
    assert.equal((await http('GET', `/users/alice/notes/${carNote.id}`)).status, 404);
    const after = await http('GET', `/users/alice/search?q=${encodeURIComponent('automobile repair')}&limit=5`);
    assert.ok(after.json.length > 0);
    assert.ok(after.json.every((h: { noteId: string }) => h.noteId !== carNote.id));
  });

  it('provides the MigrationService (MigrationModule.forRootAsync)', async () => {
    const r = await http('GET', '/admin/migrations');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, []);
  });

  it("keeps Switchyard's tables (prefixed) apart from the host's in the same database", () => {
    // better-sqlite3 is a dependency of @switchyard/relational-db, not of the host: load it from there.
    const Database = createRequire(require.resolve('@switchyard/relational-db'))('better-sqlite3');
    const sqlite = new Database(process.env.RELATIONAL_DB_DATABASE, { readonly: true });
    try {
      const tables: string[] = sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .all()
        .map((r: { name: string }) => r.name);
      assert.ok(tables.includes('users') && tables.includes('notes'), tables.join(', '));
      assert.ok(tables.includes('switchyard_users') && tables.includes('switchyard_documents'), tables.join(', '));
      const hostUsers = sqlite.prepare('SELECT id FROM users ORDER BY id').all().map((r: { id: string }) => r.id);
      assert.deepEqual(hostUsers, ['alice', 'bob']);
      // Switchyard's own users rows: one per user that indexed something.
      const own = sqlite.prepare('SELECT COUNT(*) AS n FROM switchyard_users').get() as { n: number };
      assert.equal(own.n, 2);
    } finally {
      sqlite.close();
    }
  });
});
