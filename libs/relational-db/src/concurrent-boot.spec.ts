import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { RelationalDbConfig } from '@switchyard/core';
import { Client } from 'pg';
import { MigrationExecutor } from 'typeorm';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { SCHEMA_LOCK_KEY } from './drivers/postgres.driver';
import { SCHEMA_MIGRATIONS } from './migrations';
import { createRelationalDb } from './relational-db.factory';
import { RelationalDb } from './relational-db.port';
import type { BootChildInput } from './testing/boot-child';

const ROOT = path.resolve(__dirname, '../../..');
const CHILD = path.join(__dirname, 'testing', 'boot-child.ts');
const REPLICAS = 3;

interface Booted {
  ok: boolean;
  code?: string;
  message?: string;
}

/** A replica in its own process: `ready` once loaded, `go()` starts its init(), `result` is how it ended. */
function replica(input: BootChildInput): { ready: Promise<void>; go(): void; result: Promise<Booted> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', CHILD, JSON.stringify(input)], {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  const line = <T>(re: RegExp, pick: (m: RegExpExecArray) => T) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const m = re.exec(out);
        if (m) resolve(pick(m));
      };
      child.stdout!.on('data', check); // registered after the collector above, so `out` is up to date
      void exited.then((code) => {
        check();
        reject(new Error(`boot child exited (${code}) before ${re}:\n${out}`));
      });
    });
  const result = line(/^(\{"ok":.*\})$/m, (m) => JSON.parse(m[1]) as Booted);
  return {
    ready: line(/\{"ready":true\}/, () => undefined),
    go: () => child.stdin!.end('go\n'),
    result: result.then(async (r) => (await exited, r)),
  };
}

/** Executed schema migrations, by name, seen through a read-only handle (which migrates nothing). */
async function executedMigrations(config: RelationalDbConfig): Promise<{ names: string[]; pending: string[] }> {
  const db = createRelationalDb(config, { readOnly: true });
  await db.init();
  try {
    const executed = await new MigrationExecutor(db.dataSource).getExecutedMigrations();
    return { names: executed.map((m) => m.name).sort(), pending: await db.pendingSchemaChanges() };
  } finally {
    await db.close();
  }
}

const ALL = SCHEMA_MIGRATIONS.map((m) => m.name).sort();

/**
 * init() of a handle, then `whileOpen` (before close(), which would end the handle's sessions and with
 * them any lock they still hold); resolves with init's error (undefined when it booted).
 */
async function bootError(db: RelationalDb, whileOpen: () => Promise<void> | void = () => undefined): Promise<{ code?: string; message: string } | undefined> {
  try {
    await db.init();
    return undefined;
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  } finally {
    try {
      await whileOpen();
    } finally {
      await db.close();
    }
  }
}

/** Boots REPLICAS processes against one database at the same moment; resolves with how each ended. */
async function bootTogether(config: RelationalDbConfig): Promise<Booted[]> {
  const replicas = Array.from({ length: REPLICAS }, () => replica({ config }));
  await Promise.all(replicas.map((r) => r.ready));
  for (const r of replicas) r.go();
  return Promise.all(replicas.map((r) => r.result));
}

describe(`${REPLICAS} replicas (real processes) booting at the same moment against a fresh database`, () => {
  const dir = freshDir('sy-boot-');
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
    dir.remove();
  });

  const targets: [string, () => Promise<RelationalDbConfig>][] = [
    [
      'PostgreSQL',
      async () => {
        const pg = await freshPostgres('boot');
        cleanups.push(pg.drop);
        return { provider: 'postgres', logging: false, ...pg.connection };
      },
    ],
    ['SQLite', async () => ({ provider: 'sqlite', database: dir.file('boot.sqlite'), logging: false })],
  ];

  it.each(targets)('%s: every replica starts, the schema is complete and each migration ran once', async (_name, make) => {
    const config = await make();
    const booted = await bootTogether(config);
    expect(booted).toEqual(Array(REPLICAS).fill({ ok: true }));
    // each migration recorded once, and nothing left for the entities
    expect(await executedMigrations(config)).toEqual({ names: ALL, pending: [] });
  });
});

describe('the schema lock: bounded wait, released after a failed migration', () => {
  const dir = freshDir('sy-schema-lock-');
  let pg: Awaited<ReturnType<typeof freshPostgres>>;
  let holder: Client;
  beforeAll(async () => {
    pg = await freshPostgres('slock');
    holder = new Client({ ...pg.connection, user: pg.connection.username, ssl: false });
    await holder.connect();
  });
  afterAll(async () => {
    await holder?.end();
    await pg?.drop();
    dir.remove();
  });
  const pgConfig = (): RelationalDbConfig => ({ provider: 'postgres', logging: false, ...pg.connection });
  const tryLock = async () => (await holder.query('SELECT pg_try_advisory_lock($1::bigint) AS got', [SCHEMA_LOCK_KEY])).rows[0].got as boolean;

  it('PostgreSQL: a process that waits too long for the lock fails with MIGRATION_LOCKED naming the database; once released, it boots', async () => {
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [SCHEMA_LOCK_KEY]);
    const db = createRelationalDb(pgConfig(), { schemaLockWaitMs: 300 });
    const err = await bootError(db);
    expect(err?.code).toBe('MIGRATION_LOCKED');
    expect(err?.message).toContain(db.label);
    expect(err?.message).toContain('pg_locks');
    expect((await executedMigrations(pgConfig())).names).toEqual([]); // it waited: it changed nothing
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [SCHEMA_LOCK_KEY]);
    let free: boolean | undefined;
    expect(await bootError(createRelationalDb(pgConfig()), async () => void (free = await tryLock()))).toBeUndefined();
    expect(free).toBe(true); // init() let go of it (its pool still open)
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [SCHEMA_LOCK_KEY]);
    expect(await executedMigrations(pgConfig())).toEqual({ names: ALL, pending: [] });
  });

  it('PostgreSQL: a failed migration releases the lock', async () => {
    const other = await freshPostgres('slockfail');
    const config: RelationalDbConfig = { provider: 'postgres', logging: false, ...other.connection };
    const client = new Client({ ...other.connection, user: other.connection.username, ssl: false });
    await client.connect();
    try {
      await client.query('CREATE TABLE switchyard_users (id int)'); // the initial migration fails on it
      let free: boolean | undefined;
      const err = await bootError(createRelationalDb(config), async () => {
        free = (await client.query('SELECT pg_try_advisory_lock($1::bigint) AS got', [SCHEMA_LOCK_KEY])).rows[0].got;
      });
      expect(err?.code).toBe('INTERNAL');
      expect(err?.message).toMatch(/schema migration failed on .*"switchyard_users" already exists/);
      expect(free).toBe(true); // released by the failed init() itself, its pool still open
    } finally {
      await client.end();
      await other.drop();
    }
  });

  it('SQLite: a process that waits too long for the write lock fails with MIGRATION_LOCKED naming the file; once released, it boots', async () => {
    const file = dir.file('held.sqlite');
    const config: RelationalDbConfig = { provider: 'sqlite', database: file, logging: false };
    const other = new Database(file);
    try {
      other.pragma('journal_mode = WAL'); // as every Switchyard handle opens it
      other.exec('BEGIN IMMEDIATE');
      const db = createRelationalDb(config, { schemaLockWaitMs: 300 });
      const err = await bootError(db);
      expect(err?.code).toBe('MIGRATION_LOCKED');
      expect(err?.message).toContain(db.label);
      other.exec('ROLLBACK');
      expect(await bootError(createRelationalDb(config))).toBeUndefined();
      expect(await executedMigrations(config)).toEqual({ names: ALL, pending: [] });
    } finally {
      other.close();
    }
  });

  it('SQLite: a failed migration leaves the file as it was (all migrations in one transaction) and unlocked', async () => {
    const file = dir.file('fail.sqlite');
    const config: RelationalDbConfig = { provider: 'sqlite', database: file, logging: false };
    const other = new Database(file);
    try {
      other.pragma('journal_mode = WAL');
      other.exec('CREATE TABLE switchyard_migration_locks (id int)'); // the last table of the initial migration
      const err = await bootError(createRelationalDb(config), () => {
        other.pragma('busy_timeout = 0');
        other.exec('BEGIN IMMEDIATE'); // throws "database is locked" if the failed init() still held it
        other.exec('ROLLBACK');
      });
      expect(err?.code).toBe('INTERNAL');
      expect(err?.message).toMatch(/"switchyard_migration_locks" already exists/);
      const tables = other.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all();
      expect(tables).toEqual(['switchyard_migration_locks']); // no users, documents, migrations table
    } finally {
      other.close();
    }
  });
});
