import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { RelationalDbConfig } from '@switchyard/core';
import { DataSource, DataSourceOptions } from 'typeorm';
import { freshDir, freshPostgres } from '../../../test/support/services';
import { DocumentEntity, UserEntity } from './entities';
import { InitialSchema1732230000000 } from './migrations/1732230000000-initial-schema';
import { RunOwnership1764580000000 } from './migrations/1764580000000-run-ownership';
import { createRelationalDb } from './relational-db.factory';
import { expectedInstants, Instants, readInstants } from './testing/instants';
import type { TzChildInput } from './testing/tz-child';

const ROOT = path.resolve(__dirname, '../../..');
const CHILD = path.join(__dirname, 'testing', 'tz-child.ts');

/** Runs tz-child.ts under the given TZ; resolves with what it read, per target. */
async function inZone(tz: string, input: TzChildInput): Promise<{ tz: string; read: Record<number, Instants> }> {
  const args = ['-r', 'ts-node/register/transpile-only', '-r', 'tsconfig-paths/register', CHILD, JSON.stringify(input)];
  const env = { ...process.env, TZ: tz, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') };
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: ROOT, env });
  return JSON.parse(stdout.trim().split('\n').pop() as string);
}

/**
 * Instants chosen where a time zone shows: the Europe/Berlin DST fall-back hour (00:30Z and 01:30Z
 * are both 02:30 local), the spring-forward gap, a date line crossing, milliseconds.
 */
const INSTANTS = ['2026-10-25T00:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-03-29T01:30:00.123Z', '2026-07-01T23:59:59.999Z', '2026-01-15T12:34:56.789Z'].map(
  (s) => Date.parse(s),
);

describe('Timestamps are instants, whatever the time zone of the writing and reading processes', () => {
  let targets: RelationalDbConfig[];
  let cleanup: () => Promise<void>;
  /** When each writer ran: a stamp the database generated must fall inside. */
  const written: Record<string, { from: number; to: number }> = {};

  async function write(tz: string, tag: string): Promise<void> {
    const from = Date.now();
    expect((await inZone(tz, { targets, write: { tag, instants: INSTANTS } })).tz).toBe(tz);
    written[tag] = { from, to: Date.now() };
  }

  beforeAll(async () => {
    const pg = await freshPostgres('tz');
    const dir = freshDir();
    targets = [
      { provider: 'postgres', logging: false, ...pg.connection },
      { provider: 'sqlite', database: dir.file('tz.sqlite'), logging: false },
    ];
    cleanup = async () => {
      await pg.drop();
      dir.remove();
    };
    // The server's sessions in a third zone (half-hour offset): the instants must not depend on it either.
    await withDataSource({ type: 'postgres', ...pg.connection, ssl: false }, (ds) => ds.query(`ALTER DATABASE "${pg.connection.database}" SET timezone TO 'Asia/Kolkata'`));
    for (const config of targets) {
      const db = createRelationalDb(config); // the schema first, so that the two writers can run at once
      await db.init();
      await db.close();
    }
    await Promise.all([write('Europe/Berlin', 'berlin'), write('UTC', 'utc')]);
  });
  afterAll(async () => cleanup?.());

  /** Every explicit instant equal to what was written; the database-generated one inside the writer's lifetime. */
  function expectSame(read: Record<number, Instants>, tag: string): void {
    for (const n of targets.keys()) {
      const { [`user:${tag}-generated:createdAt`]: generated, ...explicit } = read[n];
      expect({ provider: targets[n].provider, ...explicit }).toEqual({ provider: targets[n].provider, ...expectedInstants(tag, INSTANTS) });
      // SQLite's own default has whole seconds; allow one either side.
      expect(generated).toBeGreaterThanOrEqual(written[tag].from - 1000);
      expect(generated).toBeLessThanOrEqual(written[tag].to + 1000);
    }
  }

  it('written under Europe/Berlin, read under UTC: the same instants, the fall-back hour still two', async () => {
    const reader = await inZone('UTC', { targets, read: { tag: 'berlin', count: INSTANTS.length } });
    expect(reader.tz).toBe('UTC');
    expectSame(reader.read, 'berlin');
    for (const n of targets.keys()) expect(reader.read[n]['doc:berlin-0:indexedAt']).not.toBe(reader.read[n]['doc:berlin-1:indexedAt']);
  });

  it('written under UTC, read under Europe/Berlin: the same instants', async () => {
    const reader = await inZone('Europe/Berlin', { targets, read: { tag: 'utc', count: INSTANTS.length } });
    expect(reader.tz).toBe('Europe/Berlin');
    expectSame(reader.read, 'utc');
  });
});

describe('Upgrading a database whose date columns are timestamp without time zone', () => {
  /** The two fall-back instants, as the old code stored them when it ran under UTC (the upgrade's assumption). */
  const OLD = [
    { literal: '2026-10-25 00:30:00.000', instant: Date.parse('2026-10-25T00:30:00.000Z') },
    { literal: '2026-10-25 01:30:00.000', instant: Date.parse('2026-10-25T01:30:00.000Z') },
  ];

  /** The schema before this change, and rows in every date column, through TypeORM's own DataSource. */
  async function oldDatabase(options: DataSourceOptions): Promise<void> {
    const ds = new DataSource({ ...options, migrations: [InitialSchema1732230000000, RunOwnership1764580000000] } as DataSourceOptions);
    await ds.initialize();
    await ds.runMigrations();
    for (const [i, { literal: t }] of OLD.entries()) {
      const id = `old-${i}`;
      await ds.query(`INSERT INTO users (id, created_at, updated_at) VALUES ('${id}', '${t}', '${t}')`);
      await ds.query(`INSERT INTO documents (id, user_id, external_id, content, content_bytes, indexed_at, created_at, updated_at) VALUES ('${id}', '${id}', '${id}', 'x', 1, '${t}', '${t}', '${t}')`);
      await ds.query(
        `INSERT INTO switchyard_migration_jobs (id, kind, status, source, target, on_conflict, batch_size, started_at, finished_at, heartbeat_at, created_at, updated_at) VALUES ('${id}', 'RELATIONAL', 'RUNNING', 's', 't', 'error', 1, '${t}', '${t}', '${t}', '${t}', '${t}')`,
      );
      await ds.query(`INSERT INTO switchyard_migration_checkpoints (job_id, step, updated_at) VALUES ('${id}', 'users', '${t}')`);
      await ds.query(`INSERT INTO switchyard_migration_locks (target, job_id, acquired_at) VALUES ('${id}', '${id}', '${t}')`);
    }
    await ds.query(`INSERT INTO users (id) VALUES ('old-generated')`);
    await ds.destroy();
  }

  async function upgradeAndRead(config: RelationalDbConfig) {
    const db = createRelationalDb(config);
    await db.init();
    const { ['user:old-generated:createdAt']: generated, ...explicit } = await readInstants(db, 'old', OLD.length);
    expect(explicit).toEqual(expectedInstants('old', OLD.map((o) => o.instant)));
    expect(generated).toEqual(expect.any(Number));
    await expect(db.pendingSchemaChanges()).resolves.toEqual([]);
    return db;
  }

  it('PostgreSQL: every instant kept, the columns are timestamptz(3), and a stamp the database makes survives a trip through JS', async () => {
    const pg = await freshPostgres('tzold');
    const config = { provider: 'postgres' as const, logging: false, ...pg.connection };
    try {
      const old: DataSourceOptions = { type: 'postgres', ...pg.connection, ssl: false };
      await oldDatabase(old);
      // Sub-millisecond digits the old microsecond columns could hold: rounded to milliseconds.
      await withDataSource(old, (ds) =>
        ds.query(`INSERT INTO documents (id, user_id, external_id, content, content_bytes, indexed_at) VALUES ('us', 'us', 'us', 'x', 1, '2026-10-25 00:30:00.000600')`),
      );
      // Sessions of the upgrade in another zone: the conversion must take the old values as UTC, not as the session's zone.
      await withDataSource(old, (ds) => ds.query(`ALTER DATABASE "${pg.connection.database}" SET timezone TO 'America/New_York'`));
      const before = createRelationalDb(config, { readOnly: true });
      await before.init();
      expect((await before.pendingSchemaChanges()).join('\n')).toContain('"indexed_at" TIMESTAMP(3) WITH TIME ZONE');
      await before.close();

      const db = await upgradeAndRead(config);
      try {
        expect((await db.repository(DocumentEntity).findOneByOrFail({ id: 'us' })).indexedAt?.toISOString()).toBe('2026-10-25T00:30:00.001Z');
        // now() has microseconds; stored with milliseconds, the Date read back is the stored value exactly.
        await db.repository(UserEntity).insert({ id: 'fresh', roles: null, active: true });
        const fresh = await db.repository(UserEntity).findOneByOrFail({ id: 'fresh' });
        await expect(db.repository(UserEntity).countBy({ id: 'fresh', createdAt: fresh.createdAt })).resolves.toBe(1);
      } finally {
        await db.close();
      }
    } finally {
      await pg.drop();
    }
  });

  it('SQLite: every instant kept (nothing to convert: TypeORM always stored UTC text)', async () => {
    const dir = freshDir();
    try {
      const database = dir.file('old.sqlite');
      await oldDatabase({ type: 'better-sqlite3', database });
      await (await upgradeAndRead({ provider: 'sqlite', database, logging: false })).close();
    } finally {
      dir.remove();
    }
  });
});

async function withDataSource<T>(options: DataSourceOptions, fn: (ds: DataSource) => Promise<T>): Promise<T> {
  const ds = new DataSource(options);
  await ds.initialize();
  try {
    return await fn(ds);
  } finally {
    await ds.destroy();
  }
}
