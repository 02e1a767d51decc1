import { RelationalDbConfig } from '@switchyard/core';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EntityTarget, ObjectLiteral } from 'typeorm';
import { RelationalDb, RelationalDbOptions, RowConflict } from '../relational-db.port';

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

  constructor(config: PostgresConfig, options: RelationalDbOptions = {}) {
    const readOnly = options.readOnly ?? false;
    super(
      {
        type: 'postgres',
        host: config.host,
        port: config.port,
        database: config.database,
        username: config.username,
        password: config.password,
        ssl: config.ssl ? { rejectUnauthorized: false } : false,
        logging: config.logging,
        // Read-only: every session starts with default_transaction_read_only, so any INSERT/UPDATE/
        // DELETE/CREATE fails with "cannot execute ... in a read-only transaction". A guard against our
        // own mistakes, not a security boundary (a session may still SET it off): for that, give the
        // source profile a role without write privileges. No CREATE EXTENSION on connect either.
        ...(readOnly ? { installExtensions: false } : {}),
        extra: { max: 10, connectionTimeoutMillis: 10000, ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}) },
      },
      {
        readOnly,
        // Instants are `timestamptz`: PostgreSQL keeps the instant whatever the TimeZone of the session
        // or of the Node process (pg sends a Date as local time with its offset; `timestamp` without
        // time zone drops the offset, so a writer under Europe/Berlin and a reader under UTC disagree by
        // 1-2 h and the DST fall-back hour collides). Precision 3 (milliseconds) on purpose: a JS Date
        // holds milliseconds, so a value PostgreSQL generates itself (now(), microseconds) would lose
        // its microseconds on a copy through JS while a checksum computed in JS would not notice.
        // With ms in the database, every copy PG -> PG / PG -> SQLite is exact. See the timestamptz migration.
        instants: { type: 'timestamp with time zone', precision: 3 },
      },
    );
    this.label = `postgres://${config.username ? `${config.username}@` : ''}${config.host}:${config.port}/${config.database}`;
  }

  /**
   * `postgres:<system_identifier>:<database oid>:<schema>`: the cluster's identifier (set by initdb,
   * the same through every host name, address or port forward), the database and the schema.
   */
  async identity(): Promise<string> {
    const [{ oid, schema }] = await this.dataSource.query('SELECT oid::text AS oid, current_schema() AS schema FROM pg_database WHERE datname = current_database()');
    return `postgres:${await this.clusterIdentity()}:${oid}:${schema}`;
  }

  private async clusterIdentity(): Promise<string> {
    try {
      const [{ id }] = await this.dataSource.query('SELECT system_identifier::text AS id FROM pg_control_system()');
      return String(id);
    } catch (e) {
      if ((e as { code?: string }).code !== '42501') throw e; // anything but "permission denied"
    }
    // pg_control_system() is executable by every role by default; a hardened server may revoke it. Then:
    // the server's start time and port (the same through any host name, unlike inet_server_addr(),
    // which differs between 127.0.0.1 and ::1) and cluster_name. Weaker: it changes when the server
    // restarts, and it never equals the system_identifier form, so a privileged and a restricted role
    // on the same database get different identities. Compare identities taken at the same time, with
    // roles that can both see pg_control_system().
    const [r] = await this.dataSource.query(
      "SELECT (extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint::text AS started, current_setting('port') AS port, coalesce(current_setting('cluster_name', true), '') AS cluster",
    );
    return `started-${r.started}-port-${r.port}${r.cluster ? `-${r.cluster}` : ''}`;
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
