import { SQLITE_BUSY_MS, SwitchyardError, VectorDbConfig } from '@switchyard/core';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import * as path from 'node:path';
import * as sqliteVec from 'sqlite-vec';
import { assertCollectionName, META_TABLE, quoteIdent } from '../identifiers';
import { VectorDb } from '../vector-db.port';
import { Metadata, StoredMeta, VectorMatch, VectorQuery, VectorRecord } from '../vector-db.types';

type Config = Extract<VectorDbConfig, { provider: 'sqlite-vec' }>;

interface Row {
  rid: number;
  id: string;
  user_id: string;
  document_id: string;
  chunk_index: number;
  content: string;
  metadata: string;
  embedding?: Buffer;
  distance?: number;
}

const toBlob = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
const fromBlob = (b: Buffer) => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

const isMemory = (p: string) => p === ':memory:' || p === '';

/**
 * Embedded default: sqlite-vec in a SQLite file (by default the app's own SQLite file). Records live in
 * `<collection>` (rowid, id, fields); vectors in the vec0 table `<collection>_vec` with user_id as a
 * partition key and document_id as a metadata column, so user-scoped k-NN filters inside the index.
 * Opened as a source (read-only), the file is opened with SQLITE_OPEN_READONLY and must exist: no
 * directory, file, table or journal-mode change is made.
 */
export class SqliteVecVectorDb extends VectorDb {
  readonly provider = 'sqlite-vec' as const;
  readonly location: string;
  private db!: Database.Database;

  /** Stands for an in-memory database, which no other handle can reach. */
  private readonly memoryId = randomUUID();

  sibling(collection: string, dimensions: number, model: string): SqliteVecVectorDb {
    return new SqliteVecVectorDb({ ...this.config, collection, dimensions }, model);
  }

  constructor(private readonly config: Config, model: string | null) {
    super(config.collection, config.dimensions, model);
    assertCollectionName(this.provider, config.collection);
    this.location = `sqlite:${path.resolve(config.path)}`;
  }

  private get t() {
    const c = this.collection;
    return { rec: quoteIdent(c), vec: quoteIdent(`${c}_vec`), userDoc: quoteIdent(`${c}_user_doc`), meta: quoteIdent(META_TABLE) };
  }

  private notFound(): SwitchyardError {
    const file = path.resolve(this.config.path);
    return new SwitchyardError('NOT_FOUND', `sqlite-vec file ${file} does not exist; check the source profile's VECTOR_DB_SQLITE_PATH (a source is opened read-only and never created)`, { provider: this.provider, path: file });
  }

  protected async connect(): Promise<void> {
    if (this.db) return;
    const file = this.config.path;
    if (this.readOnly) {
      // An in-memory database opened here would be new and empty: nothing to read.
      if (isMemory(file) || !existsSync(file)) throw this.notFound();
      try {
        this.db = new Database(file, { readonly: true, fileMustExist: true });
      } catch (e) {
        if (!existsSync(file)) throw this.notFound();
        throw e;
      }
    } else {
      if (!isMemory(file)) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      this.db = new Database(file);
      this.db.pragma('journal_mode = WAL');
    }
    this.db.pragma(`busy_timeout = ${this.config.timeoutMs ?? SQLITE_BUSY_MS}`);
    sqliteVec.load(this.db);
    if (!this.readOnly) this.db.exec(`CREATE TABLE IF NOT EXISTS ${this.t.meta} (collection TEXT PRIMARY KEY, dimensions INTEGER NOT NULL, metric TEXT NOT NULL, model TEXT)`);
  }

  /** `sqlite-vec:<device>:<inode>:<collection>` of the real file (symlinks resolved). */
  async identity(): Promise<string> {
    if (isMemory(this.config.path)) return `sqlite-vec:memory:${this.memoryId}:${this.collection}`;
    let st;
    try {
      st = statSync(realpathSync(this.config.path), { bigint: true });
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') throw this.notFound();
      throw e;
    }
    return `sqlite-vec:${st.dev}:${st.ino}:${this.collection}`;
  }

  protected async readMeta(): Promise<StoredMeta | null> {
    // A file Switchyard never wrote (or a source opened read-only) may have no meta table.
    if (!this.db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(META_TABLE)) return null;
    const row = this.db.prepare(`SELECT dimensions, metric, model FROM ${this.t.meta} WHERE collection = ?`).get(this.collection) as StoredMeta | undefined;
    return row ?? null;
  }

  protected async writeMeta(meta: StoredMeta): Promise<void> {
    this.db
      .prepare(`INSERT INTO ${this.t.meta} (collection, dimensions, metric, model) VALUES (?, ?, ?, ?) ON CONFLICT(collection) DO UPDATE SET dimensions = excluded.dimensions, metric = excluded.metric, model = excluded.model`)
      .run(this.collection, meta.dimensions, meta.metric, meta.model);
  }

  protected async create(meta: StoredMeta): Promise<void> {
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS ${this.t.rec} (
        rid INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        document_id TEXT NOT NULL,
        chunk_index INTEGER NOT NULL,
        content TEXT NOT NULL,
        metadata TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX IF NOT EXISTS ${this.t.userDoc} ON ${this.t.rec} (user_id, document_id);
      CREATE VIRTUAL TABLE IF NOT EXISTS ${this.t.vec} USING vec0(
        user_id TEXT PARTITION KEY,
        document_id TEXT,
        embedding FLOAT[${meta.dimensions}] distance_metric=cosine
      );`);
    await this.writeMeta(meta);
  }

  protected async drop(): Promise<void> {
    this.db.transaction(() => {
      this.db.exec(`DROP TABLE IF EXISTS ${this.t.vec}; DROP TABLE IF EXISTS ${this.t.rec};`);
      this.db.prepare(`DELETE FROM ${this.t.meta} WHERE collection = ?`).run(this.collection);
    }).immediate();
  }

  protected async doUpsert(records: VectorRecord[]): Promise<void> {
    const find = this.db.prepare(`SELECT rid FROM ${this.t.rec} WHERE id = ?`);
    const delVec = this.db.prepare(`DELETE FROM ${this.t.vec} WHERE rowid = ?`);
    const delRec = this.db.prepare(`DELETE FROM ${this.t.rec} WHERE rid = ?`);
    const insRec = this.db.prepare(`INSERT INTO ${this.t.rec} (id, user_id, document_id, chunk_index, content, metadata) VALUES (?, ?, ?, ?, ?, ?)`);
    const insVec = this.db.prepare(`INSERT INTO ${this.t.vec} (rowid, user_id, document_id, embedding) VALUES (?, ?, ?, ?)`);
    this.db.transaction(() => {
      for (const r of records) {
        const old = find.get(r.id) as { rid: number } | undefined;
        if (old) {
          delVec.run(BigInt(old.rid));
          delRec.run(old.rid);
        }
        const info = insRec.run(r.id, r.userId, r.documentId, r.chunkIndex, r.content, JSON.stringify(r.metadata ?? {}));
        insVec.run(BigInt(info.lastInsertRowid), r.userId, r.documentId, toBlob(r.embedding));
      }
      // IMMEDIATE: the write lock is taken first (waiting up to busy_timeout). A deferred transaction that
      // reads first gets SQLITE_BUSY at once when another connection wrote meanwhile (WAL snapshot).
    }).immediate();
  }

  protected async doQuery(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]> {
    const docFilter = q.documentId === undefined ? '' : 'AND document_id = ?';
    const args: unknown[] = [toBlob(embedding), q.k, q.userId];
    if (q.documentId !== undefined) args.push(q.documentId);
    const rows = this.db
      .prepare(
        `WITH knn AS (SELECT rowid, distance FROM ${this.t.vec} WHERE embedding MATCH ? AND k = ? AND user_id = ? ${docFilter})
         SELECT r.*, knn.distance FROM knn JOIN ${this.t.rec} r ON r.rid = knn.rowid ORDER BY knn.distance, r.id`,
      )
      .all(...args) as Row[];
    return rows.map((r) => ({ ...this.fields(r), distance: r.distance!, score: 1 - r.distance! }));
  }

  private fields(r: Row) {
    return {
      id: r.id,
      userId: r.user_id,
      documentId: r.document_id,
      chunkIndex: r.chunk_index,
      content: r.content,
      metadata: JSON.parse(r.metadata) as Metadata,
    };
  }

  protected async doDeleteByDocument(userId: string, documentId: string): Promise<number> {
    return this.deleteWhere('user_id = ? AND document_id = ?', [userId, documentId]);
  }

  protected async doDeleteIds(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      this.deleteWhere(`id IN (${part.map(() => '?').join(',')})`, part);
    }
  }

  private deleteWhere(where: string, args: unknown[]): number {
    return this.db.transaction(() => {
      const rids = (this.db.prepare(`SELECT rid FROM ${this.t.rec} WHERE ${where}`).all(...args) as { rid: number }[]).map((r) => r.rid);
      const delVec = this.db.prepare(`DELETE FROM ${this.t.vec} WHERE rowid = ?`);
      const delRec = this.db.prepare(`DELETE FROM ${this.t.rec} WHERE rid = ?`);
      for (const rid of rids) {
        delVec.run(BigInt(rid));
        delRec.run(rid);
      }
      return rids.length;
    }).immediate();
  }

  protected async doCount(filter: { userId?: string; documentId?: string }): Promise<number> {
    const where: string[] = [];
    const args: string[] = [];
    if (filter.userId !== undefined) (where.push('user_id = ?'), args.push(filter.userId));
    if (filter.documentId !== undefined) (where.push('document_id = ?'), args.push(filter.documentId));
    const sql = `SELECT COUNT(*) AS n FROM ${this.t.rec}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`;
    return (this.db.prepare(sql).get(...args) as { n: number }).n;
  }

  protected async doPage(limit: number, after: string | undefined): Promise<VectorRecord[]> {
    return this.recordPage('', [], limit, after);
  }

  protected override async doUserPage(userIds: string[], limit: number, after: string | undefined): Promise<VectorRecord[]> {
    return this.recordPage('r.user_id IN (SELECT value FROM json_each(?)) AND', [JSON.stringify(userIds)], limit, after);
  }

  /** A page in id order of the records that pass `filter` (a condition on `params` followed by AND, or ''). */
  private async recordPage(filter: string, params: unknown[], limit: number, after: string | undefined): Promise<VectorRecord[]> {
    const rows = this.db
      .prepare(
        `SELECT r.*, v.embedding FROM ${this.t.rec} r JOIN ${this.t.vec} v ON v.rowid = r.rid
         WHERE ${filter} r.id > ? ORDER BY r.id LIMIT ?`,
      )
      .all(...params, after ?? '', limit) as Row[];
    return rows.map((r) => ({ ...this.fields(r), embedding: fromBlob(r.embedding!) }));
  }

  protected override async doIdPage(limit: number, after: string | undefined): Promise<string[]> {
    return (this.db.prepare(`SELECT id FROM ${this.t.rec} WHERE id > ? ORDER BY id LIMIT ?`).all(after ?? '', limit) as { id: string }[]).map((r) => r.id);
  }

  protected async doDocumentRecords(userId: string, documentId: string): Promise<VectorRecord[]> {
    const rows = this.db
      .prepare(`SELECT r.*, v.embedding FROM ${this.t.rec} r JOIN ${this.t.vec} v ON v.rowid = r.rid WHERE r.user_id = ? AND r.document_id = ?`)
      .all(userId, documentId) as Row[];
    return rows.map((r) => ({ ...this.fields(r), embedding: fromBlob(r.embedding!) }));
  }

  protected async doRecords(ids: string[]): Promise<VectorRecord[]> {
    return this.byIds<Row>(ids, (list) => `SELECT r.*, v.embedding FROM ${this.t.rec} r JOIN ${this.t.vec} v ON v.rowid = r.rid WHERE r.id IN (${list})`).map((r) => ({ ...this.fields(r), embedding: fromBlob(r.embedding!) }));
  }

  protected async doExistingIds(ids: string[]): Promise<string[]> {
    return this.byIds<{ id: string }>(ids, (list) => `SELECT id FROM ${this.t.rec} WHERE id IN (${list})`).map((r) => r.id);
  }

  /** Rows of a query over these ids, in parts of 500 (`sql` gets the part's placeholder list). */
  private byIds<R>(ids: string[], sql: (list: string) => string): R[] {
    const out: R[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      out.push(...(this.db.prepare(sql(part.map(() => '?').join(','))).all(...part) as R[]));
    }
    return out;
  }

  async ping(): Promise<boolean> {
    try {
      this.db.prepare('SELECT vec_version()').get();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.db?.close();
  }
}
