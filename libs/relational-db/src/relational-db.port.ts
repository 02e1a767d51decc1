import { ProviderUnavailableError, RelationalProvider, SwitchyardError, errorMessage } from '@switchyard/core';
import { DataSource, DataSourceOptions, EntityMetadata, EntityTarget, FindManyOptions, MoreThan, ObjectLiteral, Repository } from 'typeorm';
import { ALL_ENTITIES } from './entities';
import { SCHEMA_MIGRATIONS } from './migrations';

export type RowConflict = 'error' | 'skip' | 'overwrite';

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

  protected constructor(options: DataSourceOptions) {
    this.dataSource = new DataSource({
      ...options,
      entities: ALL_ENTITIES,
      migrations: SCHEMA_MIGRATIONS,
      migrationsRun: false,
      synchronize: false,
    } as DataSourceOptions);
  }

  /** Connects and applies pending schema migrations. */
  async init(): Promise<void> {
    if (this.dataSource.isInitialized) return;
    try {
      await this.beforeInit();
      await this.dataSource.initialize();
    } catch (e) {
      throw new ProviderUnavailableError(`${this.provider} relational database at ${this.label}`, e);
    }
    try {
      await this.dataSource.runMigrations({ transaction: 'each' });
    } catch (e) {
      throw new SwitchyardError('INTERNAL', `schema migration failed on ${this.label}: ${errorMessage(e)}`, {}, { cause: e });
    }
  }

  protected async beforeInit(): Promise<void> {}

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
    await this.dataSource.query(`DROP TABLE IF EXISTS ${q(snapshot)}`);
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

  async truncate(entity: EntityTarget<ObjectLiteral>): Promise<void> {
    await this.dataSource.createQueryBuilder().delete().from(entity).execute();
  }
}
