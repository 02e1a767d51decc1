/** relational: SQLite users + documents -> PostgreSQL through MigrationService (kind RELATIONAL). */
import { createRelationalDb, DocumentEntity, PostgresRelationalDb, UserEntity } from '@switchyard/relational-db';
import { mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { DataSource } from 'typeorm';
import * as checksum from '../../libs/migration/src/checksum';
import { RelationalTable } from '../../libs/migration/src/relational-table';
import { busyMs, Intervals, log, now, report, since, timeCalls } from './common';
import { documentRow, userRow } from './gen';
import { migrate } from './job';

export interface GenSqliteArgs {
  file: string;
  users: number;
  docs: number;
}

/** Writes the source SQLite file: Switchyard's schema (its migrations), rows written with TypeORM's own value encoding. */
export async function genSqlite(a: GenSqliteArgs): Promise<void> {
  rmSync(a.file, { force: true });
  for (const ext of ['-wal', '-shm']) rmSync(a.file + ext, { force: true });
  mkdirSync(path.dirname(a.file), { recursive: true });
  const t0 = now();
  const db = createRelationalDb({ provider: 'sqlite', database: a.file, logging: false });
  await db.init();
  const driver = db.dataSource.driver;
  // better-sqlite3 Database under TypeORM's driver: a prepared INSERT is ~10x faster than the query builder.
  const raw = (driver as unknown as { databaseConnection: import('better-sqlite3').Database }).databaseConnection;
  let bytes = 0;
  for (const [entity, n, make] of [
    [UserEntity, a.users, (i: number) => userRow(i)],
    [DocumentEntity, a.docs, (i: number) => documentRow(i, a.users)],
  ] as const) {
    const meta = db.metadata(entity);
    const io = db.table(entity);
    const cols = meta.columns;
    const stmt = raw.prepare(`INSERT INTO "${meta.tableName}" (${cols.map((c) => `"${c.databaseName}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
    const insert = raw.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const row = make(i) as unknown as Record<string, unknown>;
        if (typeof row.content === 'string') bytes += row.contentBytes as number;
        stmt.run(cols.map((c) => driver.preparePersistentValue(c.getEntityValue(row) ?? io.defaultFor(c), c)));
      }
    });
    for (let i = 0; i < n; i += 5000) insert(i, Math.min(n, i + 5000));
  }
  raw.pragma('wal_checkpoint(TRUNCATE)');
  await db.close();
  report({ items: a.users + a.docs, ms: since(t0), breakdown: { contentMiB: Math.round(bytes / 1048576) } });
}

export interface RelationalArgs {
  sqlite: string;
  pgUrl: string;
  dataDir: string;
  batchSize?: number;
}

/** MigrationService RELATIONAL from the SQLite file into a fresh PostgreSQL database (timed: open target + job). */
export async function switchyardRelational(a: RelationalArgs): Promise<void> {
  // Instrumentation only (behaviour unchanged): page reads per engine, bulk writes, row hashing.
  const reads: Record<string, Intervals> = { sqlite: [], postgres: [] };
  const writes: Intervals = [];
  const hashes: Intervals = [];
  // Every statement through TypeORM (keyset pages, the per-page screening lookups), by engine.
  const query = DataSource.prototype.query;
  DataSource.prototype.query = function (this: DataSource, ...args: Parameters<typeof query>) {
    const t = performance.now();
    const into = this.driver.options.type === 'postgres' ? reads.postgres : reads.sqlite;
    return query.apply(this, args).finally(() => into.push([t, performance.now()])) as ReturnType<typeof query>;
  } as typeof query;
  timeCalls(PostgresRelationalDb.prototype, 'insertColumnRows', writes);
  timeCalls(checksum, 'rowHash', hashes);
  const screens: Intervals = [];
  const validates: Intervals = [];
  timeCalls(RelationalTable.prototype, 'screen', screens);
  timeCalls(RelationalTable.prototype, 'validate', validates);

  const r = await migrate({ pgUrl: a.pgUrl, vector: { dims: 384, model: null }, source: { relational: { provider: 'sqlite', database: a.sqlite, logging: false } }, dataDir: a.dataDir, input: { kind: 'RELATIONAL', source: 'source', onConflict: 'FAIL', batchSize: a.batchSize } });
  const { ms, written: rows } = r;
  const { start, verify, end } = r.marks;
  log(`relational: ${rows} rows in ${ms} ms (verification ${r.job.verification?.ok ? 'ok' : 'FAILED'})`);
  report({
    items: rows,
    ms,
    breakdown: {
      openTargetMs: r.openMs,
      ...r.phases,
      ...Object.fromEntries(r.job.progress!.steps.map((s) => [`step:${s.name}Ms`, s.ms])),
      copySqliteReadMs: busyMs(reads.sqlite, start, verify),
      copyPgWriteMs: busyMs(writes, start, verify),
      copyPgQueryMs: busyMs(reads.postgres, start, verify),
      copyScreenMs: busyMs(screens, start, verify),
      copyValidateMs: busyMs(validates, start, verify),
      verifySqliteReadMs: busyMs(reads.sqlite, verify, end),
      verifyPgReadMs: busyMs(reads.postgres, verify, end),
      verifyHashMs: busyMs(hashes, verify, end),
    },
    verified: r.job.verification?.ok ?? false,
  });
}
