import { BadInputError, RelationalDbConfig, SQLITE_BUSY_MS } from '@switchyard/core';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { QueryRunner } from 'typeorm';
import { RelationalDb, RelationalDbOptions, SchemaMigrationTransaction } from '../relational-db.port';

type SqliteConfig = Extract<RelationalDbConfig, { provider: 'sqlite' }>;

/** How long a statement waits for another connection's lock on the file (every connection, always). */
/** While waiting for the schema lock: the longest the event loop is blocked at a time (better-sqlite3 waits synchronously). */
const LOCK_WAIT_SLICE_MS = 1_000;

/**
 * SQLite through better-sqlite3: a single file, WAL mode, for development and embedded use.
 *
 * Instants: TypeORM stores a Date as UTC text `YYYY-MM-DD HH:MM:SS.SSS` (milliseconds, no zone
 * designator) and reads it back as UTC, so the process time zone never enters. Stamps SQLite makes
 * itself (column defaults, UpdateDateColumn on UPDATE) are UTC too, with whole seconds.
 */
export class SqliteRelationalDb extends RelationalDb {
  readonly provider = 'sqlite' as const;
  readonly label: string;
  private readonly memoryId = randomUUID();
  /** How long a statement waits for the file's write lock (RELATIONAL_DB_TIMEOUT_MS; then "database is locked", PROVIDER_UNAVAILABLE). */
  private get busyMs(): number {
    return this.config.timeoutMs ?? SQLITE_BUSY_MS;
  }

  constructor(
    private readonly config: SqliteConfig,
    options: RelationalDbOptions = {},
  ) {
    const readOnly = options.readOnly ?? false;
    if (readOnly && config.database === ':memory:') throw new BadInputError('database', 'an in-memory SQLite database cannot be opened read-only (it would be empty); name a file');
    super(
      {
        type: 'better-sqlite3',
        // This package's own dependency, not whatever TypeORM would find from where npm put it.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        driver: require('better-sqlite3'),
        database: config.database,
        // Read-only: opened with SQLITE_OPEN_READONLY, so nothing (not even the journal mode, which
        // enableWAL would switch, a write to the file header) changes; a missing file is an error,
        // never created. The pragmas below only set this connection's state.
        readonly: readOnly,
        fileMustExist: readOnly,
        enableWAL: !readOnly && config.database !== ':memory:',
        logging: config.logging,
        prepareDatabase: (db: { pragma(s: string): unknown }) => {
          db.pragma(`busy_timeout = ${config.timeoutMs ?? SQLITE_BUSY_MS}`);
          db.pragma('foreign_keys = ON');
        },
      },
      { ...options, readOnly },
    );
    // TypeORM creates the file's folder before opening it; a read-only open must not create anything.
    if (readOnly) (this.dataSource.driver as unknown as { createDatabaseDirectory(dir: string): Promise<void> }).createDatabaseDirectory = async () => undefined;
    this.label = config.database === ':memory:' ? 'sqlite::memory:' : `sqlite:${path.resolve(config.database)}`;
  }

  /**
   * Creates the file's folder, and switches the file to WAL before TypeORM opens it: switching needs the
   * file to itself for a moment, and SQLite answers "database is locked" at once (no busy wait) when
   * replicas booting together all try it. Here it is retried until it succeeds (schemaLockWaitMs at most);
   * TypeORM's own switch then finds WAL on and has nothing to do.
   */
  protected override async beforeInit(): Promise<void> {
    if (this.config.database === ':memory:' || this.readOnly) return;
    await mkdir(path.dirname(path.resolve(this.config.database)), { recursive: true });
    const deadline = Date.now() + this.schemaLockWaitMs;
    for (let pause = 5; ; pause = Math.min(200, pause * 2)) {
      const db = new Database(this.config.database, { timeout: this.busyMs });
      try {
        db.pragma('journal_mode = WAL');
        return;
      } catch (e) {
        if (!String((e as { code?: string }).code).startsWith('SQLITE_BUSY') || Date.now() + pause > deadline) throw e;
      } finally {
        db.close();
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  /**
   * The schema lock is SQLite's own write lock: `BEGIN IMMEDIATE` on the connection, every migration
   * inside that one transaction, COMMIT. Chosen over the alternatives because:
   * - the engine releases it when its holder ends, however it ends (a crashed replica leaves no stale
   *   lock file to detect; pids say nothing across containers sharing a volume);
   * - every writer of the file respects it, not only processes that know of a lock file;
   * - a second process waiting for it reads the schema only once it has the lock, so it finds nothing
   *   pending (retrying after a failure would have to guess which errors mean "someone else
   *   migrated", and could start while the first is still half-way);
   * - the run is atomic: a failure or crash in migration N leaves the schema as it was before all of
   *   them (SQLite DDL is transactional).
   * TypeORM's own transactions are deferred (BEGIN), so the migrations run with transaction `none`
   * inside ours; a migration cannot choose its own transaction mode here (refused, as TypeORM refuses it
   * in its `all` mode). foreign_keys is switched off before BEGIN and on after COMMIT, as TypeORM does
   * around migrations (the pragma does nothing inside a transaction). The wait is bounded: busy_timeout
   * slices of at most LOCK_WAIT_SLICE_MS until schemaLockWaitMs is spent. While the migrations run, other
   * writers of the file wait (busy_timeout) as they did for TypeORM's per-migration transactions.
   */
  protected override async withSchemaLock(migrate: (runner: QueryRunner, transaction: SchemaMigrationTransaction) => Promise<void>): Promise<void> {
    const own = this.dataSource.migrations.filter((m) => m.transaction !== undefined);
    if (own.length) throw new Error(`migrations ${own.map((m) => m.name ?? m.constructor.name).join(', ')} set their own transaction mode, which the SQLite schema lock (one transaction for all) cannot honour`);
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.beforeMigration();
      try {
        await this.beginImmediate(runner);
        try {
          await migrate(runner, 'none');
          await runner.query('COMMIT');
        } catch (e) {
          await runner.query('ROLLBACK').catch(() => undefined);
          throw e;
        }
      } finally {
        await runner.afterMigration();
      }
    } finally {
      await runner.release();
    }
  }

  /** BEGIN IMMEDIATE, waiting up to schemaLockWaitMs for another connection's write lock on the file. */
  private async beginImmediate(runner: QueryRunner): Promise<void> {
    const deadline = Date.now() + this.schemaLockWaitMs;
    try {
      for (;;) {
        await runner.query(`PRAGMA busy_timeout = ${Math.max(1, Math.min(LOCK_WAIT_SLICE_MS, deadline - Date.now()))}`);
        try {
          await runner.query('BEGIN IMMEDIATE');
          return;
        } catch (e) {
          if (!String((e as { code?: string }).code).startsWith('SQLITE_BUSY')) throw e;
          if (Date.now() >= deadline) throw this.schemaLockTimeout('another connection is writing to the file; find it with: fuser -v ' + path.resolve(this.config.database), e);
        }
        await new Promise((r) => setImmediate(r)); // let timers and signal handlers run between slices
      }
    } finally {
      await runner.query(`PRAGMA busy_timeout = ${this.busyMs}`);
    }
  }

  /**
   * `sqlite:<device>:<inode>` of the file itself (stat follows symlinks, and a hard link is the same
   * inode), so every path to one file gives one identity. An in-memory database is its own store.
   */
  async identity(): Promise<string> {
    if (this.config.database === ':memory:') return `sqlite:memory:${this.memoryId}`;
    const st = statSync(this.config.database, { bigint: true });
    return `sqlite:${st.dev}:${st.ino}`;
  }
}
