import { DEFAULT_TABLE_PREFIX, ProviderUnavailableError, RelationalProvider, SqlSession, SwitchyardError, TABLE_PREFIX_PATTERN, errorMessage } from '@switchyard/core';
import {
  ColumnType,
  DataSource,
  DataSourceOptions,
  EntityManager,
  EntityMetadata,
  EntityTarget,
  FindManyOptions,
  And,
  LessThanOrEqual,
  MigrationExecutor,
  MoreThan,
  ObjectLiteral,
  QueryRunner,
  Repository,
  EntitySchema,
  MixedList,
} from 'typeorm';
import { ALL_ENTITIES, OWN_ENTITY_TABLES } from './entities';
import { ColumnRow, conflictClause, TableIo } from './table-io';

export { conflictClause };
import { localLocks } from './local-locks';
import { afterMetadataBuilt, mapInstantColumns, portableColumnTypes } from './metadata-hooks';
import { SCHEMA_MIGRATION_NAMES, SCHEMA_MIGRATIONS } from './migrations';
import { LEGACY_LAYOUT, LEGACY_MIGRATIONS_TABLE, migrationsTableName, OWN_INDICES, OwnTable, ownIndexName, ownTableName, setTableLayout, TableLayout } from './table-names';

export type RowConflict = 'error' | 'skip' | 'overwrite';

/** An entity of the host app: a class decorated with @Entity, or an EntitySchema (as TypeORM takes them). */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type EntityClassOrSchema = Function | EntitySchema;

/** How a RelationalDb is opened. */
export interface RelationalDbOptions {
  /**
   * Open without writing anything: no schema migrations, and the engine refuses writes (SQLite: the
   * file opened read-only, never created, journal mode left as it is; PostgreSQL: every transaction
   * read-only). For migration sources. Default false.
   */
  readOnly?: boolean;
  /**
   * How long init() waits for the schema lock while another process (a replica booting at the same
   * moment) migrates the same database, before it fails with MIGRATION_LOCKED. Default 60 000 ms.
   */
  schemaLockWaitMs?: number;
  /**
   * Prefix of Switchyard's own tables (`<prefix>users`, `<prefix>documents`, `<prefix>migration_jobs`,
   * ..., and `<prefix>schema_migrations` where executed schema migrations are recorded). Default: the
   * config's tablePrefix, else DEFAULT_TABLE_PREFIX (`switchyard_`).
   */
  tablePrefix?: string;
  /**
   * The host app's own entities, in the same DataSource as Switchyard's (repository(Entity) works for
   * them, and RELATIONAL migrations copy their tables). Their tables are the host's: created by
   * `migrations` or `synchronize`, never by Switchyard's schema migrations. Default none.
   */
  entities?: EntityClassOrSchema[];
  /** The host's TypeORM migrations for `entities`: run on init() after Switchyard's, recorded in the same table. */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations?: MixedList<Function | string>;
  /**
   * Creates / alters the host entities' tables from their metadata on init() (TypeORM synchronize,
   * limited to the host's entities: Switchyard's own tables only ever change by schema migrations).
   * For development and tests; use `migrations` in production. Default false.
   */
  synchronize?: boolean;
}

/**
 * What a withLock() section writes through. PostgreSQL: the lock is a transaction-level advisory lock,
 * and `manager` runs statements inside that same transaction (they commit when the section returns and
 * roll back when it throws); `session` lets a vector store in the same database join it. SQLite: both
 * null, statements go through the pool one at a time.
 */
export interface LockScope {
  readonly manager: EntityManager | null;
  readonly session: SqlSession | null;
}

/** How long withLocks() waits. */
export interface LockOptions {
  /** At most this long for all the locks together (default LOCK_WAIT_MS), then CONFLICT. */
  waitMs?: number;
}

/** Whether `e` is withLock()/withLocks() giving up its wait (lockTimeout): nothing of the section ran. */
export function isLockTimeout(e: unknown): boolean {
  return e instanceof SwitchyardError && e.code === 'CONFLICT' && typeof (e.details as { lock?: unknown }).lock === 'string';
}

/** The scope of a section without a transaction of its own. */
export const POOL_SCOPE: LockScope = { manager: null, session: null };

/** How long withLock() waits for another holder of the same key. */
export const LOCK_WAIT_MS = 30_000;

/** Default of RelationalDbOptions.schemaLockWaitMs. */
export const SCHEMA_LOCK_WAIT_MS = 60_000;

/**
 * How the driver's schema lock hands the locked connection to the migrations: `each` lets TypeORM run
 * every migration in its own transaction; `none` means the driver holds one transaction around the
 * whole run itself (its lock is that transaction).
 */
export type SchemaMigrationTransaction = 'each' | 'none';

/** The column type an engine stores every instant (Date column) in, when TypeORM's own mapping is not it. */
export interface InstantColumn {
  type: ColumnType;
  precision?: number;
}

/**
 * RelationalDb port. The abstract class is the Nest injection token. Drivers supply the DataSource
 * options and the bulk paths that differ per engine; everything else (schema migrations, repositories,
 * keyset paging) is TypeORM and shared here.
 */
export abstract class RelationalDb {
  abstract readonly provider: RelationalProvider;
  /** Where this database is, without secrets (for logs, job records and errors). */
  abstract readonly label: string;
  readonly dataSource: DataSource;
  readonly readOnly: boolean;
  /** The prefix of Switchyard's own tables in this database. */
  readonly tablePrefix: string;
  /** The host app's entities this handle was opened with (a migration source is opened with the same). */
  readonly hostEntities: readonly EntityClassOrSchema[];
  protected readonly schemaLockWaitMs: number;
  private readonly synchronizeHost: boolean;
  private layout: TableLayout;

  protected constructor(options: DataSourceOptions, opened: RelationalDbOptions & { instants?: InstantColumn } = {}) {
    this.readOnly = opened.readOnly ?? false;
    this.schemaLockWaitMs = opened.schemaLockWaitMs ?? SCHEMA_LOCK_WAIT_MS;
    this.tablePrefix = opened.tablePrefix ?? DEFAULT_TABLE_PREFIX;
    if (!TABLE_PREFIX_PATTERN.test(this.tablePrefix)) {
      throw new SwitchyardError('CONFIG_INVALID', `table prefix ${JSON.stringify(this.tablePrefix)}: allowed are lower-case letters, digits and _, starting with a letter, at most 24 characters, or empty`);
    }
    this.hostEntities = [...(opened.entities ?? [])];
    this.synchronizeHost = opened.synchronize ?? false;
    this.layout = { kind: 'prefixed', prefix: this.tablePrefix };
    this.dataSource = new DataSource({
      ...options,
      entities: [...ALL_ENTITIES, ...this.hostEntities],
      migrations: [...SCHEMA_MIGRATIONS, ...((opened.migrations as unknown[]) ?? [])],
      migrationsTableName: migrationsTableName(this.tablePrefix),
      migrationsRun: false,
      synchronize: false,
    } as DataSourceOptions);
    setTableLayout(this.dataSource, this.layout);
    portableColumnTypes(this.dataSource);
    afterMetadataBuilt(this.dataSource, () => {
      if (opened.instants) mapInstantColumns(this.dataSource, opened.instants);
      this.nameOwnTables();
    });
  }

  /**
   * Gives Switchyard's own entities their names in this database (the layout's), and keeps TypeORM's
   * synchronize off them: they change by schema migrations only.
   */
  private nameOwnTables(): void {
    for (const meta of this.dataSource.entityMetadatas) {
      const own = OWN_ENTITY_TABLES.get(meta.target);
      if (!own) continue;
      meta.tableNameWithoutPrefix = meta.tableName = ownTableName(this.layout, own);
      meta.tablePath = this.dataSource.driver.buildTableName(meta.tableName, meta.schema, meta.database);
      for (const index of meta.indices) {
        const known = OWN_INDICES.find((i) => i.table === own && i.legacy === index.givenName);
        if (known) index.name = ownIndexName(this.layout, known.legacy);
      }
    }
  }

  /** A table's name as a migration step, a checksum and a backup know it: Switchyard's own by their logical name (`users`), a host's by its table name. */
  datasetName(entity: EntityTarget<ObjectLiteral>): string {
    return datasetNameOf(this.metadata(entity));
  }

  /** Which of Switchyard's own tables this entity is, if it is one. */
  ownTable(entity: EntityTarget<ObjectLiteral>): OwnTable | undefined {
    return OWN_ENTITY_TABLES.get(this.metadata(entity).target);
  }

  /**
   * Connects only: no schema migrations (a live migration's writable handle on its source, which adds
   * nothing but its change-capture triggers). init() for everything else.
   */
  async connect(): Promise<void> {
    if (this.dataSource.isInitialized) return;
    try {
      await this.beforeInit();
      await this.dataSource.initialize();
    } catch (e) {
      throw new ProviderUnavailableError(`${this.provider} relational database at ${this.label}`, e);
    }
  }

  /**
   * Connects and applies pending schema migrations (read-only: connects only). Several processes may
   * call it at once on one fresh database (replicas starting together): the migrations run under the
   * driver's schema lock (withSchemaLock), one process after another, and the later ones find nothing
   * pending. A process that waits longer than schemaLockWaitMs fails with MIGRATION_LOCKED.
   */
  async init(): Promise<void> {
    if (this.dataSource.isInitialized) return;
    await this.connect();
    if (this.readOnly) return this.detectLegacyLayout();
    try {
      await this.withSchemaLock(async (runner, transaction) => {
        // TypeORM's runMigrations() takes a connection of its own per call; the executor given the
        // runner keeps every statement (the migrations table check included) on the locked connection.
        const executor = new MigrationExecutor(this.dataSource, runner);
        executor.transaction = transaction;
        await this.adoptLegacyMigrationsTable(runner, executor, transaction);
        await executor.executePendingMigrations();
      });
      // After the lock: TypeORM's schema builder opens a transaction of its own.
      if (this.synchronizeHost) await this.synchronizeHostTables();
    } catch (e) {
      if (e instanceof SwitchyardError) throw e;
      throw new SwitchyardError('INTERNAL', `schema migration failed on ${this.label}: ${errorMessage(e)}`, {}, { cause: e });
    }
  }

  /** TypeORM synchronize of the host's entities only: Switchyard's own tables change by schema migrations alone. */
  private async synchronizeHostTables(): Promise<void> {
    const own = this.dataSource.entityMetadatas.filter((m) => OWN_ENTITY_TABLES.has(m.target) && m.synchronize);
    for (const m of own) m.synchronize = false;
    try {
      await this.dataSource.synchronize();
    } finally {
      for (const m of own) m.synchronize = true;
    }
  }

  /**
   * A database made by 0.1 recorded Switchyard's migrations in TypeORM's default `migrations` table, which
   * a host app's own TypeORM migrations may use too. Moves Switchyard's rows (only those) into
   * `<prefix>schema_migrations`, in one transaction, before anything reads it; drops `migrations` if
   * nothing else is left in it.
   */
  private async adoptLegacyMigrationsTable(runner: QueryRunner, executor: MigrationExecutor, transaction: SchemaMigrationTransaction): Promise<void> {
    const table = migrationsTableName(this.tablePrefix);
    if (table === LEGACY_MIGRATIONS_TABLE || (await runner.hasTable(table)) || !(await runner.hasTable(LEGACY_MIGRATIONS_TABLE))) return;
    const e = (n: string) => this.dataSource.driver.escape(n);
    const param = (i: number) => this.dataSource.driver.createParameter(`p${i}`, i);
    const rows = (await runner.query(`SELECT ${e('timestamp')} AS ts, ${e('name')} AS name FROM ${e(LEGACY_MIGRATIONS_TABLE)}`)) as { ts: string | number; name: string }[];
    const ours = rows.filter((r) => SCHEMA_MIGRATION_NAMES.has(r.name));
    if (!ours.length) return;
    const own = transaction === 'each';
    if (own) await runner.startTransaction();
    try {
      await (executor as unknown as { createMigrationsTableIfNotExist(r: QueryRunner): Promise<void> }).createMigrationsTableIfNotExist(runner);
      for (const r of ours) await runner.query(`INSERT INTO ${e(table)} (${e('timestamp')}, ${e('name')}) VALUES (${param(0)}, ${param(1)})`, [r.ts, r.name]);
      await runner.query(`DELETE FROM ${e(LEGACY_MIGRATIONS_TABLE)} WHERE ${e('name')} IN (${ours.map((_, i) => param(i)).join(', ')})`, ours.map((r) => r.name));
      if (ours.length === rows.length) await runner.query(`DROP TABLE ${e(LEGACY_MIGRATIONS_TABLE)}`);
      if (own) await runner.commitTransaction();
    } catch (err) {
      if (own) await runner.rollbackTransaction().catch(() => undefined);
      throw err;
    }
  }

  /**
   * A read-only handle (a migration source) cannot upgrade the schema: if the database still has the 0.1
   * layout (unprefixed `users` / `documents`, recorded as made by Switchyard in `migrations`), its own
   * entities are read under those names.
   */
  private async detectLegacyLayout(): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const legacy = LEGACY_LAYOUT;
      if (ownTableName(this.layout, 'users') === ownTableName(legacy, 'users') && ownTableName(this.layout, 'documents') === ownTableName(legacy, 'documents')) return;
      if (await runner.hasTable(ownTableName(this.layout, 'users'))) return;
      if (!(await runner.hasTable(ownTableName(legacy, 'users'))) || !(await runner.hasTable(LEGACY_MIGRATIONS_TABLE))) return;
      const e = (n: string) => this.dataSource.driver.escape(n);
      const made = (await runner.query(`SELECT ${e('name')} AS name FROM ${e(LEGACY_MIGRATIONS_TABLE)}`)) as { name: string }[];
      if (!made.some((r) => SCHEMA_MIGRATION_NAMES.has(r.name))) return;
      this.layout = legacy;
      this.nameOwnTables();
    } finally {
      await runner.release();
    }
  }

  /**
   * Runs `migrate` on one connection while this process holds the database's schema-migration lock,
   * waiting at most schemaLockWaitMs for it (then: schemaLockTimeout()). Releases the lock afterwards,
   * whether `migrate` succeeded or not.
   */
  protected abstract withSchemaLock(migrate: (runner: QueryRunner, transaction: SchemaMigrationTransaction) => Promise<void>): Promise<void>;

  /** The error of a process that waited schemaLockWaitMs for another one's schema migration. */
  protected schemaLockTimeout(holder: string, cause?: unknown): SwitchyardError {
    return new SwitchyardError(
      'MIGRATION_LOCKED',
      `schema migration of ${this.label}: waited ${this.schemaLockWaitMs} ms for another process that holds the schema lock (${holder}). ` +
        'If another instance is still migrating this database, let it finish and start this one again; otherwise end the session or process that holds the lock.',
      { database: this.label, lock: 'schema', waitedMs: this.schemaLockWaitMs },
      { cause },
    );
  }

  protected async beforeInit(): Promise<void> {}

  /**
   * What this database physically is, independent of the name it was reached by (a symlink, another
   * host name for the same server): equal for two handles on the same store, different otherwise.
   * For refusing a migration whose source is its target. Needs the connection (after init()).
   */
  abstract identity(): Promise<string>;

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  /**
   * Runs `fn` while holding the exclusive lock `key` of this database: callers with the same key take
   * turns, in this process and (PostgreSQL) in every process using the database; another key does not
   * wait. Waits at most LOCK_WAIT_MS, then fails with CONFLICT naming the key. This base (SQLite):
   * within this process, per database file, and `fn` gets POOL_SCOPE; the PostgreSQL driver adds an
   * advisory lock held by a transaction that `fn` may write in (see LockScope).
   */
  withLock<T>(key: string, fn: (scope: LockScope) => Promise<T>): Promise<T> {
    return this.withLocks([key], fn);
  }

  /**
   * withLock() for several keys at once, all held for the whole of `fn` (one transaction on PostgreSQL):
   * a batch of documents written together. Taken in one order (sorted), so two callers never deadlock.
   */
  async withLocks<T>(keys: string[], fn: (scope: LockScope) => Promise<T>, options: LockOptions = {}): Promise<T> {
    const id = await this.identity();
    const sorted = [...new Set(keys)].sort();
    const waitMs = options.waitMs ?? LOCK_WAIT_MS;
    const deadline = Date.now() + waitMs;
    const hold = (i: number): Promise<T> =>
      i === sorted.length ? fn(POOL_SCOPE) : localLocks.run(`${id}\0${sorted[i]}`, Math.max(0, deadline - Date.now()), () => this.lockTimeout(sorted[i], waitMs), () => hold(i + 1));
    return hold(0);
  }

  /** CONFLICT: the lock (or one of the locks) named stayed taken for `waitMs`; nothing of the section ran. */
  protected lockTimeout(key: string, waitMs = LOCK_WAIT_MS): SwitchyardError {
    return new SwitchyardError('CONFLICT', `another writer held ${key} for more than ${waitMs} ms; nothing was changed, try again`, { lock: key, waitedMs: waitMs });
  }

  async ping(): Promise<boolean> {
    try {
      await this.dataSource.query('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  /** Which of these tables do not exist in this database (e.g. a host's tables its migrations have not made yet). */
  async missingTables(tables: string[]): Promise<string[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const out: string[] = [];
      for (const t of tables) if (!(await runner.hasTable(t))) out.push(t);
      return out;
    } finally {
      await runner.release();
    }
  }

  /** Differences between the entities and the live schema (empty when migrations are complete). */
  async pendingSchemaChanges(): Promise<string[]> {
    const log = await this.dataSource.driver.createSchemaBuilder().log();
    return log.upQueries.map((q) => q.query);
  }

  repository<T extends ObjectLiteral>(entity: EntityTarget<T>): Repository<T> {
    return this.dataSource.getRepository(entity);
  }

  metadata(entity: EntityTarget<ObjectLiteral>): EntityMetadata {
    return this.dataSource.getMetadata(entity);
  }

  /**
   * Every row of an entity in ascending primary-key order, a page at a time (keyset); resumable after a
   * key; with `until`, only the rows up to that key (a partition's range (after, until]).
   */
  async *pages<T extends ObjectLiteral>(entity: EntityTarget<T>, pageSize: number, after?: string, until?: string): AsyncGenerator<T[]> {
    const key = this.metadata(entity).primaryColumns[0].propertyName;
    const repo = this.repository(entity);
    let cursor = after;
    for (;;) {
      const bound = cursor === undefined ? (until === undefined ? undefined : LessThanOrEqual(until)) : until === undefined ? MoreThan(cursor) : And(MoreThan(cursor), LessThanOrEqual(until));
      const find = { where: bound === undefined ? {} : { [key]: bound }, order: { [key]: 'ASC' }, take: pageSize };
      const page = await repo.find(find as FindManyOptions<T>);
      if (!page.length) return;
      yield page;
      if (page.length < pageSize) return;
      cursor = String(page[page.length - 1][key]);
    }
  }

  /**
   * Primary keys that cut an entity's rows into ranges of `every` rows in `pages()` order: (, k1], (k1, k2],
   * ..., (kn, ) cover every row (the last one also rows added above kn later). Reads keys only.
   */
  async splitPoints<T extends ObjectLiteral>(entity: EntityTarget<T>, every: number): Promise<string[]> {
    if (!Number.isInteger(every) || every < 1) throw new SwitchyardError('BAD_INPUT', `split size must be a positive integer; got ${every}`);
    const key = this.metadata(entity).primaryColumns[0].propertyName;
    const repo = this.repository(entity);
    const out: string[] = [];
    for (let cursor: string | undefined; ; ) {
      // The every-th key above the cursor: one indexed read of `every` keys per range.
      const [row] = await repo.find({ select: { [key]: true }, where: cursor === undefined ? {} : { [key]: MoreThan(cursor) }, order: { [key]: 'ASC' }, skip: every - 1, take: 1 } as FindManyOptions<T>);
      if (!row) return out;
      cursor = String(row[key]);
      out.push(cursor);
    }
  }

  /** Reads and writes a table as column rows (any entity's table, junction tables included). */
  table(entity: EntityTarget<ObjectLiteral>): TableIo {
    return new TableIo(this, this.metadata(entity));
  }

  /** Writes entity objects in bulk (their column values through insertColumnRows). */
  async insertRows<T extends ObjectLiteral>(entity: EntityTarget<T>, rows: T[], onConflict: RowConflict): Promise<void> {
    const io = this.table(entity);
    const value = (c: TableIo['columns'][number], r: T) => {
      const v = c.getEntityValue(r);
      return v === undefined ? io.defaultFor(c) : v;
    };
    await this.insertColumnRows(io, rows.map((r) => Object.fromEntries(io.columns.map((c) => [c.databaseName, value(c, r)]))), onConflict);
  }

  /**
   * Writes column rows in bulk, in one transaction. Default: multi-row INSERT ... ON CONFLICT (primary
   * key) sized to the engine's bind-parameter limit (the same statement on SQLite and PostgreSQL).
   * Drivers override with faster native paths (PostgreSQL: COPY).
   */
  async insertColumnRows(io: TableIo, rows: ColumnRow[], onConflict: RowConflict): Promise<void> {
    if (!rows.length) return;
    const e = (n: string) => this.dataSource.driver.escape(n);
    const cols = io.columns;
    const names = cols.map((c) => e(c.databaseName)).join(', ');
    const perStatement = Math.max(1, Math.floor(30000 / cols.length));
    const tail = conflictClause(io, onConflict, (c) => `excluded.${e(c)}`);
    await this.dataSource.transaction(async (em) => {
      for (let i = 0; i < rows.length; i += perStatement) {
        const part = rows.slice(i, i + perStatement);
        const params: unknown[] = [];
        const values = part.map((r) => `(${cols.map((c) => (params.push(io.param(c, r[c.databaseName])), this.dataSource.driver.createParameter(`p${params.length - 1}`, params.length - 1))).join(', ')})`);
        await em.query(`INSERT INTO ${e(io.table)} (${names}) VALUES ${values.join(', ')}${tail}`, params);
      }
    });
  }

  /** Copies a table into a snapshot table (before TRUNCATE/OVERWRITE), returning the snapshot's name. */
  async snapshotTable(table: string, snapshot: string): Promise<string> {
    const q = (n: string) => this.dataSource.driver.escape(n);
    // Never replaces a table of that name (it may be a recorded backup): CREATE fails if it exists.
    await this.longStatements(false, (query) => query(`CREATE TABLE ${q(snapshot)} AS SELECT * FROM ${q(table)}`));
    return snapshot;
  }

  /** Replaces a table's rows with a snapshot's rows. */
  async restoreSnapshot(table: string, snapshot: string): Promise<void> {
    const q = (n: string) => this.dataSource.driver.escape(n);
    await this.longStatements(true, async (query) => {
      await query(`DELETE FROM ${q(table)}`);
      await query(`INSERT INTO ${q(table)} SELECT * FROM ${q(snapshot)}`);
    });
  }

  /**
   * Runs statements that are long by nature (whole-table copies), in one transaction if `atomic`. A
   * driver that bounds every query (PostgreSQL's query timeout) lifts the bound for them.
   */
  protected longStatements<T>(atomic: boolean, fn: (query: (sql: string) => Promise<unknown>) => Promise<T>): Promise<T> {
    return atomic ? this.dataSource.transaction((em) => fn((sql) => em.query(sql))) : fn((sql) => this.dataSource.query(sql));
  }

  /** Rows in a table by name (a snapshot table, which has no entity). */
  async countTable(table: string): Promise<number> {
    const rows = (await this.dataSource.query(`SELECT COUNT(*) AS n FROM ${this.dataSource.driver.escape(table)}`)) as { n: number | string }[];
    return Number(rows[0]?.n ?? 0);
  }

  async truncate(entity: EntityTarget<ObjectLiteral>): Promise<void> {
    await this.dataSource.createQueryBuilder().delete().from(entity).execute();
  }
}

/** A table's name as a migration step, a checksum and a backup know it, whatever the prefix: Switchyard's own by their logical name (`users`), a host's by its table name. */
export function datasetNameOf(meta: EntityMetadata): string {
  const own = OWN_ENTITY_TABLES.get(meta.target);
  if (own) return own;
  // A host table may have the name Switchyard's own dataset goes by (a host's `users`): kept apart.
  return OWN_DATASET_NAMES.has(meta.tableName) ? `host:${meta.tableName}` : meta.tableName;
}

const OWN_DATASET_NAMES: ReadonlySet<string> = new Set(OWN_ENTITY_TABLES.values());
