import { DEFAULT_PROVIDER_TIMEOUT_MS, fitIdentifier, RelationalDbConfig, sqlSessionKey, withoutQueryTimeout } from '@switchyard/core';
import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { QueryRunner } from 'typeorm';
import { conflictClause, LOCK_WAIT_MS, LockOptions, LockScope, RelationalDb, RelationalDbOptions, RowConflict, SchemaMigrationTransaction } from '../relational-db.port';
import type { ColumnRow, TableIo } from '../table-io';

type PostgresConfig = Extract<RelationalDbConfig, { provider: 'postgres' }>;

// pg's own parameter serialisation (dates as local time with offset, JSON, buffers), so COPY stores
// exactly what a parameterised INSERT through the same pool would.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { prepareValue } = require('pg/lib/utils') as { prepareValue(v: unknown): string | null };

/**
 * The advisory lock of schema migrations: the first 8 bytes of sha256('switchyard-schema') as a signed
 * 64-bit key (decimal text, so it never passes through a JS number). Advisory locks are per database,
 * so databases on one server do not wait for each other. In pg_locks: locktype 'advisory', objsubid 1,
 * classid the high and objid the low 32 bits.
 */
export const SCHEMA_LOCK_KEY = createHash('sha256').update('switchyard-schema').digest().readBigInt64BE(0).toString();
const LOCK_TIMEOUT = '55P03'; // lock_not_available: lock_timeout expired
const POOL_MAX = 10;
/** withLock() sections at once per process: each holds a pool connection besides what it queries with. */
const LOCK_CONNECTIONS = POOL_MAX / 2;

/** The advisory lock key of a withLock() name: the first 8 bytes of sha256('switchyard-lock:' + name), signed, as decimal text. */
function advisoryKey(name: string): string {
  return createHash('sha256').update(`switchyard-lock:${name}`).digest().readBigInt64BE(0).toString();
}

/** At most `n` callers inside at once; the rest wait in order. */
class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

/** A session's staging table for COPY into `table` (63 bytes at most, distinct per table). */
function stagingTable(table: string): string {
  return fitIdentifier(`_sy_stage_${table}`);
}

/** CSV field for COPY: NULL is an unquoted empty field, everything else is quoted. */
function csvField(v: unknown): string {
  // pg binds a Buffer as binary; in COPY's text it is bytea's hex form
  if (Buffer.isBuffer(v)) return `"\\x${v.toString('hex')}"`;
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
        // This package's own dependency, not whatever TypeORM would find from where npm put it.
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        driver: require('pg'),
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
        // Bounded waits: a server that accepts connections but stops answering fails a query after
        // timeoutMs (pg's client-side query_timeout) and a connection attempt after min(10 s, timeoutMs),
        // instead of hanging; long statements lift it on their own connection (withoutQueryTimeout).
        extra: { max: POOL_MAX, connectionTimeoutMillis: Math.min(10_000, config.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS), query_timeout: config.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS, ...(readOnly ? { options: '-c default_transaction_read_only=on' } : {}) },
      },
      {
        ...options,
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

  /**
   * A session-level advisory lock (pg_advisory_lock) on one connection held by a QueryRunner for the
   * whole run: TypeORM's pool would otherwise hand each statement to any connection, and the lock
   * belongs to the session that took it. Session-level, so the per-migration transactions (`each`)
   * commit or roll back without releasing it. The wait is bounded by lock_timeout (set for that one
   * statement, then reset: it must not cut short a migration's own DDL waiting for a table lock).
   * Unlocked explicitly, also on failure; if the unlock cannot be confirmed the connection is
   * destroyed instead of returned to the pool, and closing the session drops the lock. A process that
   * dies holding it loses it with its connection.
   */
  protected override async withSchemaLock(migrate: (runner: QueryRunner, transaction: SchemaMigrationTransaction) => Promise<void>): Promise<void> {
    const runner = this.dataSource.createQueryRunner();
    let reusable = false; // back to the pool only when the lock is known released and lock_timeout reset
    await runner.connect();
    const client = (runner as unknown as { databaseConnection: PoolClient }).databaseConnection;
    try {
      // The wait is bounded by lock_timeout, the migrations may take long: no query timeout on this connection.
      await withoutQueryTimeout(client, async () => {
        // at least 1 ms: lock_timeout 0 means "wait forever"
        await runner.query("SELECT set_config('lock_timeout', $1, false)", [`${Math.max(1, Math.ceil(this.schemaLockWaitMs))}ms`]);
        try {
          await runner.query('SELECT pg_advisory_lock($1::bigint)', [SCHEMA_LOCK_KEY]);
        } catch (e) {
          if ((e as { code?: string }).code === LOCK_TIMEOUT) throw this.schemaLockTimeout(this.lockHolderHint(), e);
          throw e;
        }
        await runner.query('RESET lock_timeout');
        try {
          await migrate(runner, 'each');
        } finally {
          // after a failed migration too (TypeORM rolled its transaction back); a failed unlock does not
          // replace the migration's error: the connection is destroyed below, which ends the lock
          reusable = await runner.query('SELECT pg_advisory_unlock($1::bigint)', [SCHEMA_LOCK_KEY]).then(
            () => true,
            () => false,
          );
        }
      });
    } finally {
      if (reusable) await runner.release();
      else await destroyConnection(runner);
    }
  }

  private lockHolderHint(): string {
    const key = BigInt.asUintN(64, BigInt(SCHEMA_LOCK_KEY));
    const [classid, objid] = [key >> 32n, key & 0xffffffffn];
    return `find it with: SELECT a.pid, a.application_name, a.client_addr, a.state, a.query_start FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.classid = ${classid} AND l.objid = ${objid} AND l.objsubid = 1 AND l.granted`;
  }

  /**
   * The in-process turn first (so a process holds at most one connection per key), then a
   * transaction-level advisory lock on the key's 64-bit hash, taken in a transaction on a connection of
   * its own that `fn` writes in through `scope.manager` (and a vector store in this database through
   * `scope.session`): what `fn` wrote there commits with the lock's release when it returns and rolls back
   * when it throws, or when this process dies. Statements `fn` sends through the pool are outside it.
   * The lock is tried, not waited for: a key another instance holds gives its connection and its slot
   * back and tries again after a short pause (10 ms, doubling to 250 ms), so it never holds up writes of
   * other keys in this process. At most half the pool is in such sections at once, so their own queries
   * always find a connection. After LOCK_WAIT_MS: CONFLICT. Every statement on the lock's connection is
   * bounded by the pool's query timeout, like any other.
   */
  override async withLocks<T>(keys: string[], fn: (scope: LockScope) => Promise<T>, options: LockOptions = {}): Promise<T> {
    if (!keys.length) return super.withLocks(keys, fn, options);
    const sorted = [...new Set(keys)].sort();
    const key = sorted.length === 1 ? sorted[0] : `one of ${sorted.length} locks (${sorted[0]}, ...)`;
    const advisory = sorted.map(advisoryKey);
    const waitMs = options.waitMs ?? LOCK_WAIT_MS;
    const deadline = Date.now() + waitMs;
    return super.withLocks(keys, async () => {
      for (let pause = 10; ; pause = Math.min(250, pause * 2)) {
        const attempt = await this.lockSlots.run(async () => {
          const runner = this.dataSource.createQueryRunner();
          await runner.connect();
          const client = (runner as unknown as { databaseConnection: PoolClient }).databaseConnection;
          let failed = false;
          try {
            // TypeORM's own transaction (not a raw BEGIN): a save() inside fn then joins it instead of
            // committing the section half-way.
            await runner.startTransaction();
            // All or none: locks this statement got are released with the transaction when one was taken.
            const [{ got }] = (await runner.query('SELECT bool_and(pg_try_advisory_xact_lock(k)) AS got FROM unnest($1::bigint[]) AS k', [advisory])) as { got: boolean }[];
            if (!got) return { got: false as const };
            const out = await fn({ manager: runner.manager, session: { key: await this.sessionKey(), client } });
            await runner.commitTransaction();
            return { got: true as const, out };
          } catch (e) {
            failed = true;
            throw e;
          } finally {
            // After a failure the connection is closed, not pooled: a statement that timed out on the client
            // may still run on the server with the ROLLBACK queued behind it (and dropped by its own timer),
            // so a pooled connection could still be in this transaction, holding its locks. Closing the
            // session rolls it back on the server.
            if (failed) await destroyConnection(runner);
            else {
              if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
              await runner.release();
            }
          }
        });
        if (attempt.got) return attempt.out;
        if (Date.now() + pause > deadline) throw this.lockTimeout(key, waitMs);
        await new Promise((r) => setTimeout(r, pause));
      }
    }, options);
  }

  private sessionKey$?: Promise<string>;

  /** This database's SqlSession key (server, database, role), read once. */
  private sessionKey(): Promise<string> {
    this.sessionKey$ ??= (async () => {
      const [{ oid, role }] = await this.dataSource.query('SELECT oid::text AS oid, current_user AS role FROM pg_database WHERE datname = current_database()');
      return sqlSessionKey(await this.clusterIdentity(), oid, role);
    })().catch((e) => {
      this.sessionKey$ = undefined;
      throw e;
    });
    return this.sessionKey$;
  }

  private readonly lockSlots = new Semaphore(LOCK_CONNECTIONS);

  /** Whole-table copies (snapshots, restores): on a connection without the query timeout. */
  protected override async longStatements<T>(atomic: boolean, fn: (query: (sql: string) => Promise<unknown>) => Promise<T>): Promise<T> {
    return this.withClient((c) =>
      withoutQueryTimeout(c, async () => {
        if (!atomic) return fn((sql) => c.query(sql));
        await c.query('BEGIN');
        try {
          const out = await fn((sql) => c.query(sql));
          await c.query('COMMIT');
          return out;
        } catch (err) {
          await c.query('ROLLBACK').catch(() => undefined);
          throw err;
        }
      }),
    );
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

  /**
   * COPY into a temporary staging table, then one INSERT ... SELECT with the conflict rule; with no rule
   * (a duplicate key is an error) straight into the table: COPY fails on a duplicate as the INSERT would,
   * and is one statement (all rows or none).
   */
  override async insertColumnRows(io: TableIo, rows: ColumnRow[], onConflict: RowConflict): Promise<void> {
    if (!rows.length) return;
    const driver = this.dataSource.driver;
    const cols = io.columns;
    const names = cols.map((c) => driver.escape(c.databaseName)).join(', ');
    const table = driver.escape(io.table);
    const stage = driver.escape(stagingTable(io.table));
    const conflict = conflictClause(io, onConflict, (c) => `EXCLUDED.${driver.escape(c)}`);
    function* lines() {
      for (const row of rows) {
        yield cols.map((c) => csvField(io.param(c, row[c.databaseName]))).join(',') + '\n';
      }
    }
    if (onConflict === 'error') {
      await this.withClient((client) => pipeline(Readable.from(lines()), client.query(copyFrom(`COPY ${table} (${names}) FROM STDIN WITH (FORMAT csv)`))));
      return;
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

/**
 * Returns a QueryRunner's connection to the pool as broken, so pg-pool closes it (and the server ends
 * the session with whatever it holds) instead of handing it to the next caller. TypeORM's own path
 * for a connection that failed (releasePostgresConnection(err), private in its typings).
 */
async function destroyConnection(runner: QueryRunner): Promise<void> {
  const release = (runner as unknown as { releasePostgresConnection?: (err: Error) => Promise<void> }).releasePostgresConnection;
  if (release) await release.call(runner, new Error('not confirmed back to a clean state'));
  else await runner.release();
}
