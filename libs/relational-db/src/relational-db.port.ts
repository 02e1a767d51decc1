import { ProviderUnavailableError, RelationalProvider, SwitchyardError, errorMessage } from '@switchyard/core';
import {
  ColumnType,
  DataSource,
  DataSourceOptions,
  EntityMetadata,
  EntityTarget,
  FindManyOptions,
  MigrationExecutor,
  MoreThan,
  ObjectLiteral,
  QueryRunner,
  Repository,
} from 'typeorm';
import { ALL_ENTITIES } from './entities';
import { SCHEMA_MIGRATIONS } from './migrations';

export type RowConflict = 'error' | 'skip' | 'overwrite';

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
}

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
  protected readonly schemaLockWaitMs: number;

  protected constructor(options: DataSourceOptions, opened: RelationalDbOptions & { instants?: InstantColumn } = {}) {
    this.readOnly = opened.readOnly ?? false;
    this.schemaLockWaitMs = opened.schemaLockWaitMs ?? SCHEMA_LOCK_WAIT_MS;
    this.dataSource = new DataSource({
      ...options,
      entities: ALL_ENTITIES,
      migrations: SCHEMA_MIGRATIONS,
      migrationsRun: false,
      synchronize: false,
    } as DataSourceOptions);
    if (opened.instants) mapInstantColumns(this.dataSource, opened.instants);
  }

  /**
   * Connects and applies pending schema migrations (read-only: connects only). Several processes may
   * call it at once on one fresh database (replicas starting together): the migrations run under the
   * driver's schema lock (withSchemaLock), one process after another, and the later ones find nothing
   * pending. A process that waits longer than schemaLockWaitMs fails with MIGRATION_LOCKED.
   */
  async init(): Promise<void> {
    if (this.dataSource.isInitialized) return;
    try {
      await this.beforeInit();
      await this.dataSource.initialize();
    } catch (e) {
      throw new ProviderUnavailableError(`${this.provider} relational database at ${this.label}`, e);
    }
    if (this.readOnly) return;
    try {
      await this.withSchemaLock(async (runner, transaction) => {
        // TypeORM's runMigrations() takes a connection of its own per call; the executor given the
        // runner keeps every statement (the migrations table check included) on the locked connection.
        const executor = new MigrationExecutor(this.dataSource, runner);
        executor.transaction = transaction;
        await executor.executePendingMigrations();
      });
    } catch (e) {
      if (e instanceof SwitchyardError) throw e;
      throw new SwitchyardError('INTERNAL', `schema migration failed on ${this.label}: ${errorMessage(e)}`, {}, { cause: e });
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

  async ping(): Promise<boolean> {
    try {
      await this.dataSource.query('SELECT 1');
      return true;
    } catch {
      return false;
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

  /** Every row of an entity in ascending primary-key order, a page at a time (keyset); resumable after a key. */
  async *pages<T extends ObjectLiteral>(entity: EntityTarget<T>, pageSize: number, after?: string): AsyncGenerator<T[]> {
    const key = this.metadata(entity).primaryColumns[0].propertyName;
    const repo = this.repository(entity);
    let cursor = after;
    for (;;) {
      const find = { where: cursor === undefined ? {} : { [key]: MoreThan(cursor) }, order: { [key]: 'ASC' }, take: pageSize };
      const page = await repo.find(find as FindManyOptions<T>);
      if (!page.length) return;
      yield page;
      if (page.length < pageSize) return;
      cursor = String(page[page.length - 1][key]);
    }
  }

  /**
   * Writes entity rows in bulk. Default: multi-row INSERT through the query builder, sized to the
   * engine's bind-parameter limit. Drivers override with faster native paths (PostgreSQL: COPY).
   */
  async insertRows<T extends ObjectLiteral>(entity: EntityTarget<T>, rows: T[], onConflict: RowConflict): Promise<void> {
    if (!rows.length) return;
    const meta = this.metadata(entity);
    const perStatement = Math.max(1, Math.floor(30000 / meta.columns.length));
    await this.dataSource.transaction(async (em) => {
      for (let i = 0; i < rows.length; i += perStatement) {
        const qb = em.createQueryBuilder().insert().into(entity).values(rows.slice(i, i + perStatement) as never);
        if (onConflict === 'skip') qb.orIgnore();
        if (onConflict === 'overwrite') {
          const pk = meta.primaryColumns.map((c) => c.databaseName);
          qb.orUpdate(meta.columns.map((c) => c.databaseName).filter((c) => !pk.includes(c)), pk);
        }
        await qb.updateEntity(false).execute();
      }
    });
  }

  /** Copies a table into a snapshot table (before TRUNCATE/OVERWRITE), returning the snapshot's name. */
  async snapshotTable(table: string, snapshot: string): Promise<string> {
    const q = (n: string) => this.dataSource.driver.escape(n);
    // Never replaces a table of that name (it may be a recorded backup): CREATE fails if it exists.
    await this.dataSource.query(`CREATE TABLE ${q(snapshot)} AS SELECT * FROM ${q(table)}`);
    return snapshot;
  }

  /** Replaces a table's rows with a snapshot's rows. */
  async restoreSnapshot(table: string, snapshot: string): Promise<void> {
    const q = (n: string) => this.dataSource.driver.escape(n);
    await this.dataSource.transaction(async (em) => {
      await em.query(`DELETE FROM ${q(table)}`);
      await em.query(`INSERT INTO ${q(table)} SELECT * FROM ${q(snapshot)}`);
    });
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

/**
 * Entities declare instants as `Date` (plain date columns, CreateDateColumn, UpdateDateColumn); an
 * engine whose TypeORM default for them is wrong maps them here, once the metadata is built and before
 * anything (schema diff, queries) reads it. Entity decorators are global, so the choice cannot live
 * in the entities themselves when SQLite and PostgreSQL handles share one process.
 */
function mapInstantColumns(dataSource: DataSource, instant: InstantColumn): void {
  const ds = dataSource as unknown as { buildMetadatas(): Promise<void> };
  const build = ds.buildMetadatas.bind(ds);
  ds.buildMetadatas = async () => {
    await build();
    for (const column of dataSource.entityMetadatas.flatMap((m) => m.columns)) {
      if (column.type === Date || column.isCreateDate || column.isUpdateDate) {
        column.type = instant.type;
        column.precision = instant.precision;
      }
    }
  };
}
