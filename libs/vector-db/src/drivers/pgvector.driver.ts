import { DEFAULT_HNSW_EF_SEARCH, DEFAULT_PROVIDER_TIMEOUT_MS, PostgresConnection, SqlSession, sqlSessionKey, VectorDbConfig, withoutQueryTimeout } from '@switchyard/core';
import { Pool, PoolClient } from 'pg';

/** A user with at most this many chunks is searched exactly (no graph): exact recall, and as fast at that size. */
export const EXACT_SCAN_BELOW = 10_000;
const USER_SIZE_TTL_MS = 60_000;
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertCollectionName, fitIdentifier, hasNul, META_TABLE, quoteIdent } from '../identifiers';
import { VectorDb } from '../vector-db.port';
import { Metadata, StoredFields, StoredMeta, VectorMatch, VectorQuery, VectorRecord } from '../vector-db.types';

type Config = Extract<VectorDbConfig, { provider: 'pgvector' }>;

interface Row {
  id: string;
  user_id: string;
  document_id: string;
  chunk_index: number;
  content: string;
  metadata: Metadata;
  embedding?: Buffer;
  distance?: number;
  dims?: number;
}

/** A record's columns as fields() reads them, then its embedding (vector_send: binary) or only its dimension. */
const FIELD_COLUMNS = 'id, user_id, document_id, chunk_index, content, metadata';
const WITH_EMBEDDING = `${FIELD_COLUMNS}, vector_send(embedding) AS embedding`;
const WITH_DIMENSIONS = `${FIELD_COLUMNS}, vector_dims(embedding) AS dims`;

const COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
/** The columns a write carries, in the order encodeTuple writes them. */
const COPY_COLUMNS = 'id, user_id, document_id, chunk_index, embedding, content, metadata';
const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** One tuple in PostgreSQL's binary COPY format: (id, user_id, document_id, chunk_index, embedding, content, metadata). */
function encodeTuple(r: VectorRecord): Buffer {
  const text = (s: string) => Buffer.from(s, 'utf8');
  const fields: Buffer[] = [text(r.id), text(r.userId), text(r.documentId)];
  const int = Buffer.alloc(4);
  int.writeInt32BE(r.chunkIndex);
  fields.push(int);
  const vec = Buffer.alloc(4 + 4 * r.embedding.length);
  vec.writeInt16BE(r.embedding.length, 0);
  for (let i = 0; i < r.embedding.length; i++) vec.writeFloatBE(r.embedding[i], 4 + 4 * i);
  fields.push(vec, text(r.content), Buffer.concat([Buffer.from([1]), text(JSON.stringify(r.metadata ?? {}))]));
  const parts: Buffer[] = [Buffer.from([0, fields.length])];
  for (const f of fields) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(f.length);
    parts.push(len, f);
  }
  return Buffer.concat(parts);
}

/** pgvector's binary form (vector_send): int16 dims, int16 unused, then big-endian float32s. */
function decodeVector(b: Buffer): Float32Array {
  const dims = b.readInt16BE(0);
  const v = new Float32Array(dims);
  for (let i = 0; i < dims; i++) v[i] = b.readFloatBE(4 + 4 * i);
  return v;
}
const toVectorText = (v: Float32Array) => `[${Array.from(v).join(',')}]`;

/** The first text field of a record that holds a NUL character (PostgreSQL text and jsonb cannot). */
function nulField(r: VectorRecord): string | null {
  for (const f of ['id', 'userId', 'documentId', 'content'] as const) if (hasNul(r[f])) return f;
  for (const [k, v] of Object.entries(r.metadata ?? {})) {
    if (hasNul(k)) return `metadata key ${JSON.stringify(k)}`;
    if (typeof v === 'string' && hasNul(v)) return `metadata.${k}`;
  }
  return null;
}

/**
 * pgvector in the same PostgreSQL as the relational data (RELATIONAL_DB_*). Table `<collection>`
 * (the seed guide's vector_embeddings shape plus chunk_index and metadata) with an HNSW cosine index.
 * Bulk writes: binary COPY into a session temp table, then one merge statement. Every name derived
 * from the collection fits PostgreSQL's 63 bytes (hash-suffixed when longer) and is quoted. Opened as
 * a source (read-only), it runs no DDL and its sessions are read-only.
 */
export class PgvectorVectorDb extends VectorDb {
  readonly provider = 'pgvector' as const;
  readonly location: string;
  private pool?: Pool;
  private poolReadOnly = false;

  sibling(collection: string, dimensions: number, model: string): PgvectorVectorDb {
    return new PgvectorVectorDb({ ...this.config, collection, dimensions }, model);
  }

  constructor(private readonly config: Config, model: string | null) {
    super(config.collection, config.dimensions, model);
    assertCollectionName(this.provider, config.collection);
    const c: PostgresConnection = config.connection;
    this.location = `postgres://${c.username ? `${c.username}@` : ''}${c.host}:${c.port}/${c.database}`;
    this.connection = c;
    this.timeoutMs = config.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS;
    this.efSearch = config.efSearch ?? DEFAULT_HNSW_EF_SEARCH;
  }
  /** VECTOR_DB_HNSW_EF_SEARCH: the HNSW candidate list of a query (at least 4 k). */
  private readonly efSearch: number;
  private readonly userSizes = new Map<string, { n: number; at: number }>();
  private readonly connection: PostgresConnection;
  /** VECTOR_DB_TIMEOUT_MS: the longest one query may wait for an answer. */
  private readonly timeoutMs: number;

  /** The records table's name as PostgreSQL keeps it. */
  private get table(): string {
    return fitIdentifier(this.collection);
  }

  private get t() {
    const q = (s: string) => quoteIdent(fitIdentifier(s));
    return { rec: q(this.collection), stage: q(`_sy_stage_${this.collection}`), hnsw: q(`${this.collection}_embedding_hnsw`), userDoc: q(`${this.collection}_user_doc`), meta: quoteIdent(META_TABLE) };
  }

  /** Set on the view within() makes: the connection of the relational transaction this store joined. */
  private readonly joined?: PoolClient;

  private async sql<R extends object = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await (this.joined ?? this.pool!).query(text, values)).rows as R[];
  }

  /** `fn` in a transaction of its own, or, in a view made by within(), inside the joined one. */
  private async tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    if (this.joined) return fn(this.joined);
    const c = await this.pool!.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /** The pool, without touching the database (read-only handles get read-only sessions). */
  private open(): Pool {
    if (this.pool && this.poolReadOnly === this.readOnly) return this.pool;
    // A pool opened before init() (identity()) with the other mode is replaced.
    void this.pool?.end().catch(() => undefined);
    this.poolReadOnly = this.readOnly;
    const c = this.connection;
    this.pool = new Pool({
      host: c.host,
      port: c.port,
      database: c.database,
      user: c.username,
      password: c.password,
      ssl: c.ssl ? { rejectUnauthorized: false } : false,
      max: 5,
      // Bounded waits (see PostgresRelationalDb): every query answers within timeoutMs or fails.
      connectionTimeoutMillis: Math.min(10_000, this.timeoutMs),
      query_timeout: this.timeoutMs,
      // Filtered HNSW scans keep searching until k rows pass the user filter (pgvector >= 0.8); set once
      // per connection, so a query is one round trip. onConnect is awaited before the client is handed out
      // (a 'connect' listener is not: its query would queue under the caller's).
      // ef_search (VECTOR_DB_HNSW_EF_SEARCH, default 100; pgvector's own is 40): a wider candidate list, so a
      // user-filtered top-10 on an HNSW graph stays close to exact search (recall ~0.87-0.95 at 40 measured).
      // Two statements: ef_search holds even where iterative scans do not exist (pgvector < 0.8).
      onConnect: async (client: { query(q: string): Promise<unknown> }) => {
        await client.query(`SET hnsw.ef_search = ${Math.floor(this.efSearch)}`).catch(() => undefined);
        await client.query('SET hnsw.iterative_scan = strict_order').catch(() => undefined);
      },
      ...(this.readOnly ? { options: '-c default_transaction_read_only=on' } : {}),
    } as unknown as ConstructorParameters<typeof Pool>[0]);
    this.pool.on('error', () => undefined);
    return this.pool;
  }

  protected async connect(): Promise<void> {
    this.open();
    if (this.readOnly) {
      await this.sql('SELECT 1');
      return;
    }
    // Serialised between processes (a transaction-level advisory lock): replicas starting together on a
    // fresh database would otherwise race in CREATE ... IF NOT EXISTS (duplicate pg_class entries).
    await this.tx(async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('switchyard-vector-schema'))`);
      await c.query('CREATE EXTENSION IF NOT EXISTS vector');
      await c.query(`CREATE TABLE IF NOT EXISTS ${this.t.meta} (collection varchar(255) PRIMARY KEY, dimensions integer NOT NULL, metric varchar(32) NOT NULL, model varchar(255), updated_at timestamptz NOT NULL DEFAULT now())`);
    });
  }

  protected async readMeta(): Promise<StoredMeta | null> {
    // A source database may have no meta table (nothing created there by Switchyard, or read-only).
    const [{ present }] = await this.sql<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [this.t.meta]);
    if (present) {
      const [meta] = await this.sql<StoredMeta>(`SELECT dimensions, metric, model FROM ${this.t.meta} WHERE collection = $1`, [this.collection]);
      if (meta) return meta;
    }
    // A table made by hand (the seed guide's script): read its dimension from the column type.
    const [col] = await this.sql<{ typmod: number }>(
      `SELECT a.atttypmod AS typmod FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding'`,
      [this.t.rec],
    );
    return col ? { dimensions: col.typmod, model: null, metric: 'cosine' } : null;
  }

  protected override refuse(r: VectorRecord): { field: string; why: string } | null {
    const field = nulField(r);
    return field ? { field, why: 'contains a NUL character (\\u0000), which PostgreSQL cannot store; remove it from the record at the source' } : null;
  }

  /**
   * `pgvector:<system_identifier>:<database oid>:<schema>.<table>`: the cluster's system identifier
   * (pg_control_system(), executable by every role by default) is the same however the server is
   * reached. If an administrator revoked it, fall back to what every role may read and what is the
   * same through every address of one server: its start time, port and cluster_name (not
   * inet_server_addr(), which differs between 127.0.0.1 and ::1, nor data_directory, which needs
   * pg_read_all_settings). A fallback identity never equals a system_identifier one.
   */
  async identity(): Promise<string> {
    return this.guard(async () => {
      this.open();
      const server = await this.server();
      const [d] = await this.sql<{ oid: string; schema: string }>(
        `SELECT (SELECT oid::text FROM pg_database WHERE datname = current_database()) AS oid,
                COALESCE((SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)), current_schema()) AS schema`,
        [this.t.rec],
      );
      return `pgvector:${server}:${d.oid}:${d.schema}.${this.table}`;
    });
  }

  /** The server's identity: system_identifier, or (where it is not readable) start time, port and cluster name. */
  private async server(): Promise<string> {
    try {
      return (await this.sql<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()'))[0].id;
    } catch (e) {
      if ((e as { code?: string }).code !== '42501') throw e;
      const [r] = await this.sql<{ t: string; p: number | null; c: string }>(
        `SELECT extract(epoch FROM pg_postmaster_start_time())::text AS t, inet_server_port() AS p, current_setting('cluster_name') AS c`,
      );
      return `started-${r.t}-port-${r.p ?? 'socket'}-cluster-${r.c}`;
    }
  }

  private sessionKey$?: Promise<string>;

  /**
   * A view of this store on the session's connection (same server, database and role as this pool:
   * the records table and its index are reachable there with the same rights), sharing everything
   * else with this handle.
   */
  override async within(session: SqlSession): Promise<VectorDb | null> {
    if (this.joined) return null;
    this.sessionKey$ ??= this.guard(async () => {
      const [r] = await this.sql<{ oid: string; role: string }>('SELECT oid::text AS oid, current_user AS role FROM pg_database WHERE datname = current_database()');
      return sqlSessionKey(await this.server(), r.oid, r.role);
    }).catch((e) => {
      this.sessionKey$ = undefined;
      throw e;
    });
    if (session.key !== (await this.sessionKey$)) return null;
    return Object.create(this, { joined: { value: session.client as PoolClient } }) as PgvectorVectorDb;
  }

  protected async writeMeta(meta: StoredMeta): Promise<void> {
    await this.sql(
      `INSERT INTO ${this.t.meta} (collection, dimensions, metric, model) VALUES ($1, $2, $3, $4)
       ON CONFLICT (collection) DO UPDATE SET dimensions = EXCLUDED.dimensions, metric = EXCLUDED.metric, model = EXCLUDED.model, updated_at = now()`,
      [this.collection, meta.dimensions, meta.metric, meta.model],
    );
  }

  protected async create(meta: StoredMeta): Promise<void> {
    await this.tx(async (c) => {
      await c.query(`SELECT pg_advisory_xact_lock(hashtext('switchyard-vector-schema'))`);
      await this.createTable(c, meta);
    });
    await this.finishBulkLoad();
    await this.writeMeta(meta);
  }

  private async createTable(c: PoolClient, meta: StoredMeta): Promise<void> {
    await c.query(`CREATE TABLE IF NOT EXISTS ${this.t.rec} (
      id varchar(255) COLLATE "C" PRIMARY KEY,
      user_id varchar(255) NOT NULL,
      document_id varchar(255) NOT NULL,
      chunk_index integer NOT NULL DEFAULT 0,
      embedding vector(${Number(meta.dimensions)}) NOT NULL,
      content text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamp DEFAULT now())`);
    await c.query(`CREATE INDEX IF NOT EXISTS ${this.t.userDoc} ON ${this.t.rec} (user_id, document_id)`);
  }

  protected async drop(): Promise<void> {
    this.idUnique = undefined;
    // One transaction: a crash between the two must not leave a meta row naming a table that is gone
    // (init() would then never recreate it; found by the fault suite's SIGKILL during TRUNCATE).
    await this.tx(async (c) => {
      await c.query(`DELETE FROM ${this.t.meta} WHERE collection = $1`, [this.collection]);
      await c.query(`DROP TABLE IF EXISTS ${this.t.rec}`);
    });
  }

  /** The HNSW indexes on this collection's table, whatever they are named (older versions let PostgreSQL cut long names). */
  private async hnswIndexes(): Promise<string[]> {
    const rows = await this.sql<{ name: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(i.relname) AS name
       FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am a ON a.oid = i.relam JOIN pg_namespace n ON n.oid = i.relnamespace
       WHERE x.indrelid = to_regclass($1) AND a.amname = 'hnsw'`,
      [this.t.rec],
    );
    return rows.map((r) => r.name);
  }

  override async prepareBulkLoad(): Promise<void> {
    this.assertWritable();
    await this.guard(async () => {
      for (const name of await this.hnswIndexes()) await this.sql(`DROP INDEX IF EXISTS ${name}`);
    });
  }


  /**
   * Builds the HNSW index once, after a load, with memory for the graph (pgvector builds far faster when
   * the graph fits in maintenance_work_mem): about rows x (4 x dims + 300) bytes, 64 MB to 2 GB.
   */
  override async finishBulkLoad(): Promise<void> {
    this.assertWritable();
    await this.guard(async () => {
      if ((await this.hnswIndexes()).length) return;
      const [{ n }] = await this.sql<{ n: string }>(`SELECT COUNT(*) AS n FROM ${this.t.rec}`);
      const mb = Math.min(2048, Math.max(64, Math.ceil((Number(n) * (4 * this.dimensions + 300)) / 2 ** 20)));
      // An index build takes as long as the data needs: no query timeout on its connection.
      await this.tx((c) =>
        withoutQueryTimeout(c, async () => {
          // One build per table at a time (instances that open a new collection together, a job finishing
          // its load while one opens it): a concurrent CREATE INDEX IF NOT EXISTS fails on pg_class's
          // unique name instead of waiting. The second one waits here, then finds the index made.
          await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`switchyard-vector-index:${this.t.rec}`]);
          await c.query(`SET LOCAL maintenance_work_mem = '${mb}MB'`);
          await c.query(`CREATE INDEX IF NOT EXISTS ${this.t.hnsw} ON ${this.t.rec} USING hnsw (embedding vector_cosine_ops)`);
        }),
      );
    });
  }


  /** One binary COPY of `records` into `table`. */
  private async copyInto(c: PoolClient, table: string, records: VectorRecord[]): Promise<void> {
    async function* body() {
      yield COPY_HEADER;
      for (const r of records) yield encodeTuple(r);
      yield COPY_TRAILER;
    }
    await pipeline(Readable.from(body()), c.query(copyFrom(`COPY ${table} (${COPY_COLUMNS}) FROM STDIN WITH (FORMAT binary)`)));
  }

  /**
   * New records COPY straight into the table (no staging table, no id lookup first): a stored id fails
   * the COPY on the primary key, its transaction writes nothing, and that is CONFLICT. Inside a joined
   * transaction a failed COPY would abort the caller's transaction: there it looks the ids up first.
   */
  protected override async doInsertNew(records: VectorRecord[]): Promise<void> {
    // Only a unique key on id turns a stored id into an error: a table made by hand without one looks first.
    if (this.joined || !(await this.idIsUnique())) return super.doInsertNew(records);
    try {
      await this.tx((c) => this.copyInto(c, this.t.rec, records));
    } catch (e) {
      if ((e as { code?: string }).code !== '23505') throw e;
      const id = /Key \(id\)=\((.*)\) already exists/s.exec((e as { detail?: string }).detail ?? '')?.[1] ?? null;
      throw this.alreadyStored(null, id);
    }
  }

  private idUnique?: Promise<boolean>;

  /** Whether the table has a one-column unique index on id (its primary key when Switchyard made it). Asked once. */
  private idIsUnique(): Promise<boolean> {
    this.idUnique ??= this.sql<{ ok: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL AND a.attname = 'id') AS ok`,
      [this.t.rec],
    ).then(
      (r) => r[0].ok === true,
      (e) => {
        this.idUnique = undefined;
        throw e;
      },
    );
    return this.idUnique;
  }

  protected async doUpsert(records: VectorRecord[]): Promise<void> {
    const cols = COPY_COLUMNS;
    await this.tx(async (c) => {
      await c.query(`CREATE TEMP TABLE IF NOT EXISTS ${this.t.stage} (id varchar(255), user_id varchar(255), document_id varchar(255), chunk_index integer, embedding vector(${this.dimensions}), content text, metadata jsonb) ON COMMIT DELETE ROWS`);
      await this.copyInto(c, this.t.stage, records);
      await c.query(
        `INSERT INTO ${this.t.rec} (${cols}) SELECT ${cols} FROM ${this.t.stage}
         ON CONFLICT (id) DO UPDATE SET user_id = EXCLUDED.user_id, document_id = EXCLUDED.document_id, chunk_index = EXCLUDED.chunk_index,
           embedding = EXCLUDED.embedding, content = EXCLUDED.content, metadata = EXCLUDED.metadata`,
      );
      // Inside a joined transaction the staged rows stay until its commit: clear them for the next upsert.
      if (this.joined) await c.query(`TRUNCATE ${this.t.stage}`);
    });
  }

  protected async doQuery(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]> {
    const args: unknown[] = [toVectorText(embedding), q.userId, q.k];
    const docFilter = q.documentId === undefined ? '' : 'AND document_id = $4';
    if (q.documentId !== undefined) args.push(q.documentId);
    const cols = `${FIELD_COLUMNS}, embedding <=> $1::vector AS distance`;
    // Few candidates (one document, or a user with few chunks): an exact scan of them (the filter's btree
    // index, then every distance), which is exact and, at that size, as fast as the graph.
    if (q.documentId !== undefined || (await this.userSize(q.userId)) <= EXACT_SCAN_BELOW) {
      const exact = `WITH mine AS MATERIALIZED (SELECT ${cols} FROM ${this.t.rec} WHERE user_id = $2 ${docFilter}) SELECT * FROM mine ORDER BY distance, id LIMIT $3`;
      const rows = await this.sql<Row>(exact, args);
      return rows.map((r) => ({ ...this.fields(r), distance: Number(r.distance), score: 1 - Number(r.distance) }));
    }
    const sql = `SELECT ${cols} FROM ${this.t.rec} WHERE user_id = $2 ${docFilter} ORDER BY embedding <=> $1::vector, id LIMIT $3`;
    const efSearch = Math.min(1000, q.k * 4);
    // The connection's ef_search serves k up to a quarter of it; larger k widen the search for this query only.
    const rows =
      efSearch <= this.efSearch
        ? await this.sql<Row>(sql, args)
        : await this.tx(async (c) => {
            await c.query(`SET LOCAL hnsw.ef_search = ${efSearch}`);
            return (await c.query(sql, args)).rows as Row[];
          });
    return rows.map((r) => ({ ...this.fields(r), distance: Number(r.distance), score: 1 - Number(r.distance) }));
  }

  /** A user's chunk count, remembered for a minute (it only picks exact or graph search, never what is found). */
  private async userSize(userId: string): Promise<number> {
    const known = this.userSizes.get(userId);
    if (known && Date.now() - known.at < USER_SIZE_TTL_MS) return known.n;
    const [r] = await this.sql<{ n: string }>(`SELECT COUNT(*) AS n FROM ${this.t.rec} WHERE user_id = $1`, [userId]);
    if (this.userSizes.size > 10_000) this.userSizes.clear();
    this.userSizes.set(userId, { n: Number(r.n), at: Date.now() });
    return Number(r.n);
  }

  private fields(r: Row) {
    return { id: r.id, userId: r.user_id, documentId: r.document_id, chunkIndex: r.chunk_index, content: r.content, metadata: r.metadata };
  }

  protected async doDeleteByDocument(userId: string, documentId: string): Promise<number> {
    const r = await (this.joined ?? this.pool!).query(`DELETE FROM ${this.t.rec} WHERE user_id = $1 AND document_id = $2`, [userId, documentId]);
    return r.rowCount ?? 0;
  }

  protected async doDeleteIds(ids: string[]): Promise<void> {
    await this.sql(`DELETE FROM ${this.t.rec} WHERE id = ANY($1::varchar[])`, [ids]);
  }

  protected async doCount(filter: { userId?: string; documentId?: string }): Promise<number> {
    const [r] = await this.sql<{ n: string }>(
      `SELECT COUNT(*) AS n FROM ${this.t.rec} WHERE ($1::varchar IS NULL OR user_id = $1) AND ($2::varchar IS NULL OR document_id = $2)`,
      [filter.userId ?? null, filter.documentId ?? null],
    );
    return Number(r.n);
  }

  protected async doPage(limit: number, after: string | undefined): Promise<VectorRecord[]> {
    return (await this.pageRows(WITH_EMBEDDING, '', [], limit, after)).map(this.record);
  }

  protected override async doUserPage(userIds: string[], limit: number, after: string | undefined): Promise<VectorRecord[]> {
    return (await this.pageRows(WITH_EMBEDDING, 'user_id = ANY($3::varchar[]) AND', [userIds], limit, after)).map(this.record);
  }

  protected override async doFieldPage(limit: number, after: string | undefined): Promise<StoredFields[]> {
    return (await this.pageRows(WITH_DIMENSIONS, '', [], limit, after)).map(this.storedFields);
  }

  protected override async doFieldRecords(ids: string[]): Promise<StoredFields[]> {
    return (await this.sql<Row>(`SELECT ${WITH_DIMENSIONS} FROM ${this.t.rec} WHERE id = ANY($1::varchar[])`, [ids])).map(this.storedFields);
  }

  protected override async doIdPage(limit: number, after: string | undefined): Promise<string[]> {
    return (await this.sql<{ id: string }>(`SELECT id FROM ${this.t.rec} WHERE id > $1 ORDER BY id LIMIT $2`, [after ?? '', limit])).map((r) => r.id);
  }

  protected async doDocumentRecords(userId: string, documentId: string): Promise<VectorRecord[]> {
    return (await this.sql<Row>(`SELECT ${WITH_EMBEDDING} FROM ${this.t.rec} WHERE user_id = $1 AND document_id = $2`, [userId, documentId])).map(this.record);
  }

  protected async doRecords(ids: string[]): Promise<VectorRecord[]> {
    return (await this.sql<Row>(`SELECT ${WITH_EMBEDDING} FROM ${this.t.rec} WHERE id = ANY($1::varchar[])`, [ids])).map(this.record);
  }

  /** A page in id order of the rows that pass `filter` (a condition on $3... followed by AND, or ''), with these columns. */
  private pageRows(columns: string, filter: string, params: unknown[], limit: number, after: string | undefined): Promise<Row[]> {
    return this.sql<Row>(`SELECT ${columns} FROM ${this.t.rec} WHERE ${filter} id > $1 ORDER BY id LIMIT $2`, [after ?? '', limit, ...params]);
  }

  private readonly record = (r: Row): VectorRecord => ({ ...this.fields(r), embedding: decodeVector(r.embedding!) });
  private readonly storedFields = (r: Row): StoredFields => ({ ...this.fields(r), dimensions: r.dims! });

  protected async doExistingIds(ids: string[]): Promise<string[]> {
    return (await this.sql<{ id: string }>(`SELECT id FROM ${this.t.rec} WHERE id = ANY($1::varchar[])`, [ids])).map((r) => r.id);
  }

  async ping(): Promise<boolean> {
    try {
      await this.sql('SELECT 1');
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pool?.end();
    this.pool = undefined;
  }
}
