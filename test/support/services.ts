import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PostgresConnection } from '@switchyard/core';

/**
 * The repository root: the nearest folder above this file whose package.json is Switchyard's. Found by
 * walking up rather than by a fixed `../..`, because this file also runs compiled from another depth
 * (the benchmarks compile it into bench/.build/test/support/).
 */
export function repoRoot(from = __dirname): string {
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'switchyard') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no Switchyard package.json above ${from}`);
  }
}
const ROOT = repoRoot();

/**
 * Access to the real servers started by test/global-setup.js (or given by TEST_DATABASE_URL /
 * TEST_CHROMA_URL). Each test file gets its own PostgreSQL database and its own SQLite files.
 */
function fromServicesFile(key: string): string | undefined {
  try {
    return JSON.parse(readFileSync(path.join(ROOT, 'test', '.services.json'), 'utf8'))[key];
  } catch {
    return undefined;
  }
}

export function serviceEnv(key: 'TEST_DATABASE_URL' | 'TEST_CHROMA_URL' | 'TEST_EMBEDDINGS_MODEL_PATH' | 'TEST_EMBEDDINGS_MODEL_PATH_ALT' | 'REDIS_URL'): string {
  const v = process.env[key] ?? fromServicesFile(key);
  if (!v) throw new Error(`${key} is not set: the Jest global setup (test/global-setup.js) should have started the service`);
  return v;
}

export function toConnection(url: string): PostgresConnection {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    database: decodeURIComponent(u.pathname.slice(1)),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    ssl: false,
  };
}

// The service launcher's own helpers (plain JS): one way to make and drop test databases.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const pgService = require(path.join(ROOT, 'scripts', 'services', 'postgres.js')) as {
  createDatabase(baseUrl: string, name?: string): Promise<string>;
  dropDatabase(baseUrl: string, nameOrUrl: string): Promise<void>;
};

/** A fresh PostgreSQL database (with the vector extension) on the test server. */
export async function freshPostgres(prefix = 't'): Promise<{ url: string; connection: PostgresConnection; drop(): Promise<void> }> {
  const base = serviceEnv('TEST_DATABASE_URL');
  const url = await pgService.createDatabase(base, `sy_${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase());
  return { url, connection: toConnection(url), drop: () => pgService.dropDatabase(base, url) };
}

/** A fresh folder for SQLite files. */
export function freshDir(prefix = 'sy-'): { dir: string; file(name: string): string; remove(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, file: (n) => path.join(dir, n), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
