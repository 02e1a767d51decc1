import { RelationalDbConfig } from '@switchyard/core';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EntityTarget, ObjectLiteral } from 'typeorm';
import { RelationalDb, RowConflict } from '../relational-db.port';

type PostgresConfig = Extract<RelationalDbConfig, { provider: 'postgres' }>;

// pg's own parameter serialisation (dates as local time with offset, JSON, buffers), so COPY stores
// exactly what a parameterised INSERT through the same pool would.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { prepareValue } = require('pg/lib/utils') as { prepareValue(v: unknown): string | null };

/** CSV field for COPY: NULL is an unquoted empty field, everything else is quoted. */
function csvField(v: unknown): string {
  const s = v === undefined ? null : prepareValue(v);
  return s === null ? '' : `"${String(s).replace(/"/g, '""')}"`;
}

/** PostgreSQL through TypeORM's pg pool; bulk writes stream through COPY into a staging table. */
export class PostgresRelationalDb extends RelationalDb {
  readonly provider = 'postgres' as const;
  readonly label: string;

  constructor(config: PostgresConfig) {
    super({
      type: 'postgres',
      host: config.host,
      port: config.port,
      database: config.database,
      username: config.username,
      password: config.password,
      ssl: config.ssl ? { rejectUnauthorized: false } : false,
      logging: config.logging,
      extra: { max: 10, connectionTimeoutMillis: 10000 },
    });
    this.label = `postgres://${config.username ? `${config.username}@` : ''}${config.host}:${config.port}/${config.database}`;
  }

  /** Runs fn with a raw pg client from TypeORM's pool (for COPY). */
  async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const qr = this.dataSource.createQueryRunner();
    await qr.connect();
    try {
      return await fn((qr as unknown as { databaseConnection: PoolClient }).databaseConnection);
    } finally {
      await qr.release();
    }
  }

  override async insertRows<T extends ObjectLiteral>(entity: EntityTarget<T>, rows: T[], onConflict: RowConflict): Promise<void> {
    if (!rows.length) return;
    const meta = this.metadata(entity);
    const driver = this.dataSource.driver;
    const cols = meta.columns;
    const names = cols.map((c) => driver.escape(c.databaseName)).join(', ');
    const table = driver.escape(meta.tableName);
    const stage = driver.escape(`_sy_stage_${meta.tableName}`);
    const pk = meta.primaryColumns.map((c) => driver.escape(c.databaseName));
    const set = cols
      .filter((c) => !c.isPrimary)
      .map((c) => `${driver.escape(c.databaseName)} = EXCLUDED.${driver.escape(c.databaseName)}`)
      .join(', ');
    const conflict =
      onConflict === 'skip' ? ` ON CONFLICT (${pk.join(', ')}) DO NOTHING` : onConflict === 'overwrite' ? ` ON CONFLICT (${pk.join(', ')}) DO UPDATE SET ${set}` : '';
    function* lines() {
      for (const row of rows) {
        yield cols.map((c) => csvField(driver.preparePersistentValue(c.getEntityValue(row), c))).join(',') + '\n';
      }
    }
    await this.withClient(async (client) => {
      await client.query('BEGIN');
      try {
        await client.query(`CREATE TEMP TABLE IF NOT EXISTS ${stage} (LIKE ${table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`);
        await pipeline(Readable.from(lines()), client.query(copyFrom(`COPY ${stage} (${names}) FROM STDIN WITH (FORMAT csv)`)));
        await client.query(`INSERT INTO ${table} (${names}) SELECT ${names} FROM ${stage}${conflict}`);
        await client.query('COMMIT');
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }
}
