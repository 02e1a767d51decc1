import { ErrorCode, hasLoneSurrogate, ProviderUnavailableError, SqlSession, SwitchyardError, timed, VectorProvider } from '@switchyard/core';
import { StoredFields, StoredMeta, VectorMatch, VectorQuery, VectorRecord, VectorStoreInfo } from './vector-db.types';

/** A record's fields and its embedding's dimension, without the embedding's values. */
export function withoutEmbedding({ embedding, ...fields }: VectorRecord): StoredFields {
  return { ...fields, dimensions: embedding.length };
}

const ID_MAX = 255;
const INT32_MAX = 2_147_483_647;

/**
 * Id order of every driver: UTF-8 byte order (PostgreSQL COLLATE "C", SQLite BINARY), which is code
 * point order. JavaScript's `<` compares UTF-16 code units, which puts U+10000.. before U+E000..U+FFFF.
 */
export function compareIds(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800..DFFF) stand for code points above U+FFFF: move them above U+E000..U+FFFF.
    x = x < 0xd800 ? x : x <= 0xdfff ? x + 0x2000 : x - 0x800;
    y = y < 0xd800 ? y : y <= 0xdfff ? y + 0x2000 : y - 0x800;
    return x - y;
  }
  return a.length - b.length;
}

/**
 * VectorDb port. The abstract class is the Nest injection token. It serves both the app (upsert, k-NN,
 * delete) and bulk migration (scan in stable pages, bulk upsert, describe, reset). Shared rules live
 * here: validation, dimension/model bookkeeping, mismatch guard. Drivers implement the `do*` primitives.
 */
export abstract class VectorDb {
  abstract readonly provider: VectorProvider;
  abstract readonly location: string;
  private stored: StoredMeta | null = null;
  private initialised = false;
  /** Opened as a migration source (`init({ createIfMissing: false })`): the driver writes nothing. */
  protected readOnly = false;

  /**
   * @param collection table / collection name
   * @param dimensions configured dimension (VECTOR_DB_DIMENSIONS)
   * @param model embedding model the app writes with; null for a read-only migration source
   */
  protected constructor(
    readonly collection: string,
    readonly dimensions: number,
    protected model: string | null,
  ) {
    if (!Number.isInteger(dimensions) || dimensions < 1) {
      throw new SwitchyardError('CONFIG_INVALID', `VECTOR_DB_DIMENSIONS must be a positive integer; got ${JSON.stringify(dimensions)}`, { dimensions });
    }
  }

  // ---- driver primitives -------------------------------------------------------------------
  protected abstract connect(): Promise<void>;
  /** Reads the recorded meta, or null if the collection does not exist yet. */
  protected abstract readMeta(): Promise<StoredMeta | null>;
  /** Creates the collection (if missing) for `meta.dimensions` and records meta. */
  protected abstract create(meta: StoredMeta): Promise<void>;
  protected abstract writeMeta(meta: StoredMeta): Promise<void>;
  protected abstract drop(): Promise<void>;
  protected abstract doUpsert(records: VectorRecord[]): Promise<void>;
  protected abstract doQuery(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]>;
  protected abstract doDeleteByDocument(userId: string, documentId: string): Promise<number>;
  protected abstract doDeleteIds(ids: string[]): Promise<void>;
  protected abstract doCount(filter: { userId?: string; documentId?: string }): Promise<number>;
  /** Records with id > after, ascending by id (byte order), at most `limit`. */
  protected abstract doPage(limit: number, after: string | undefined): Promise<VectorRecord[]>;
  protected abstract doExistingIds(ids: string[]): Promise<string[]>;
  /** The records of those ids that exist, in any order (every field, the exact embedding). */
  protected abstract doRecords(ids: string[]): Promise<VectorRecord[]>;
  /** doPage without the embeddings' values (their dimension only); by default doPage's, stripped. */
  protected async doFieldPage(limit: number, after: string | undefined): Promise<StoredFields[]> {
    return (await this.doPage(limit, after)).map(withoutEmbedding);
  }
  /** doRecords without the embeddings' values (their dimension only); by default doRecords', stripped. */
  protected async doFieldRecords(ids: string[]): Promise<StoredFields[]> {
    return (await this.doRecords(ids)).map(withoutEmbedding);
  }
  /**
   * A page of the records of these users only (doPage's order and contract). Optional: a driver without it
   * is scanned whole and filtered (scanUsers).
   */
  protected doUserPage?(userIds: string[], limit: number, after: string | undefined): Promise<VectorRecord[]>;
  /** Every record of one (user, document), in chunk order then id order. */
  protected abstract doDocumentRecords(userId: string, documentId: string): Promise<VectorRecord[]>;
  /**
   * What this driver cannot store of a record that passed the shared rules (e.g. a NUL character in
   * PostgreSQL text), or null. validate() turns it into BAD_INPUT naming the field.
   */
  protected refuse(_record: VectorRecord): { field: string; why: string } | null {
    return null;
  }
  /**
   * What physical store this is, not how it was named: two handles on the same collection reached
   * through different spellings (a symlink, localhost vs 127.0.0.1) give the same string, two different
   * stores different strings. Call after init().
   */
  abstract identity(): Promise<string>;
  /**
   * This store with its statements inside `session`, an open transaction of the app's relational
   * database, when the store lives in that same database (pgvector): its writes then commit or roll back
   * with the transaction's. Null when it cannot join (another database or role, another engine); the
   * caller writes through this handle as usual.
   */
  async within(_session: SqlSession): Promise<VectorDb | null> {
    return null;
  }
  /** Called after a bulk load (e.g. build an index deferred during the load). */
  async finishBulkLoad(): Promise<void> {}
  /** Called before a bulk load (e.g. drop an index to rebuild it once after). */
  async prepareBulkLoad(): Promise<void> {}
  abstract close(): Promise<void>;
  abstract ping(): Promise<boolean>;

  // ---- shared behaviour ---------------------------------------------------------------------
  /**
   * Connects and creates the collection if missing. `createIfMissing: false` opens a migration source
   * read-only: the driver writes nothing at all (no file, no table, no extension, no journal-mode or
   * meta change), a missing store is NOT_FOUND, and this handle refuses every write. A collection
   * recorded with other dimensions or another model is not written into: describe() reports it and
   * writes/queries fail with a clear code.
   */
  async init(options: { createIfMissing?: boolean } = {}): Promise<void> {
    if (this.initialised) return;
    this.readOnly = options.createIfMissing === false;
    await this.guard(() => this.connect());
    this.stored = await this.guard(() => this.readMeta());
    if (!this.stored && options.createIfMissing === false) {
      throw new SwitchyardError('NOT_FOUND', `${this.provider} collection "${this.collection}" does not exist at ${this.location}`, { provider: this.provider, collection: this.collection });
    }
    if (!this.stored) {
      const meta = { dimensions: this.dimensions, model: this.model, metric: 'cosine' };
      await this.guard(() => this.create(meta));
      this.stored = meta;
    } else if (!this.readOnly && this.stored.model === null && this.model !== null && this.stored.dimensions === this.dimensions) {
      // A store created by a source that did not know the model: adopt the configured one only if empty.
      if ((await this.guard(() => this.doCount({}))) === 0) await this.recordModel(this.model);
    }
    this.initialised = true;
  }

  /** Why writing with the configured dimensions/model is refused, or null. */
  mismatch(): string | null {
    const s = this.stored;
    if (!s) return null;
    const where = `${this.provider} collection "${this.collection}" at ${this.location}`;
    if (s.metric !== 'cosine') return `${where} uses distance metric ${s.metric}; Switchyard expects cosine.`;
    if (s.dimensions !== this.dimensions) {
      return `${where} stores ${s.dimensions}-dimensional vectors but VECTOR_DB_DIMENSIONS=${this.dimensions}. Set VECTOR_DB_DIMENSIONS=${s.dimensions} to use it as it is, or re-index it with the current model (switchyard migrate reindex --on-conflict TRUNCATE).`;
    }
    if (this.model !== null && s.model !== null && s.model !== this.model) {
      return `${where} was built with embedding model "${s.model}" but the configured model is "${this.model}". Re-index it (switchyard migrate reindex --on-conflict TRUNCATE) or configure "${s.model}".`;
    }
    return null;
  }

  private mismatchCode(): ErrorCode {
    const s = this.stored;
    if (s && s.metric !== 'cosine') return 'METRIC_MISMATCH';
    return s && s.dimensions !== this.dimensions ? 'DIMENSION_MISMATCH' : 'MODEL_MISMATCH';
  }

  /** Refuses a write through a handle opened read-only (a migration source). */
  protected assertWritable(): void {
    if (this.readOnly) {
      throw new SwitchyardError('INTERNAL', `${this.provider} collection "${this.collection}" at ${this.location} was opened read-only (as a migration source); it is not written`, { provider: this.provider, collection: this.collection });
    }
  }

  private assertUsable(): void {
    if (!this.initialised) throw new SwitchyardError('INTERNAL', `${this.provider} vector store used before init()`);
    const why = this.mismatch();
    if (why) throw new SwitchyardError(this.mismatchCode(), why, { provider: this.provider, stored: this.stored, configured: { dimensions: this.dimensions, model: this.model } });
  }

  async describe(): Promise<VectorStoreInfo> {
    return {
      provider: this.provider,
      location: this.location,
      collection: this.collection,
      metric: 'cosine',
      dimensions: this.dimensions,
      storedDimensions: this.stored?.dimensions ?? null,
      model: this.model,
      storedModel: this.stored?.model ?? null,
      storedMetric: this.stored?.metric ?? null,
      count: this.initialised ? await this.count() : 0,
      mismatch: this.mismatch(),
    };
  }

  /**
   * Refuses a record any store would reject or change (BAD_INPUT / DIMENSION_MISMATCH naming the field),
   * so one bad record can be set aside instead of failing its whole batch: the same rules for every
   * driver, plus what this driver cannot store (refuse()).
   */
  validate(records: VectorRecord[]): void {
    for (const r of records) {
      const bad = (field: string, why: string) => new SwitchyardError('BAD_INPUT', `vector record ${JSON.stringify(r.id)}: ${field} ${why}`, { id: r.id, field });
      const text = (field: string, v: unknown) => {
        if (typeof v !== 'string' || !v || v.length > ID_MAX) {
          throw bad(field, `must be a string of 1..${ID_MAX} characters (got ${typeof v !== 'string' ? (v === undefined || v === null ? 'none' : `a ${typeof v}`) : `${v.length} characters`})`);
        }
        unpaired(field, v);
      };
      // No store keeps a lone surrogate: it would come back as U+FFFD, and two ids differing only there would collide.
      const unpaired = (field: string, v: string) => {
        if (hasLoneSurrogate(v)) throw bad(field, 'must be valid Unicode (it contains a lone surrogate)');
      };
      text('id', r.id);
      text('userId', r.userId);
      text('documentId', r.documentId);
      if (!Number.isInteger(r.chunkIndex) || r.chunkIndex < 0 || r.chunkIndex > INT32_MAX) throw bad('chunkIndex', `must be an integer from 0 to ${INT32_MAX}`);
      if (typeof r.content !== 'string') throw bad('content', 'must be a string');
      unpaired('content', r.content);
      if (!(r.embedding instanceof Float32Array)) throw bad('embedding', 'must be a Float32Array');
      if (r.embedding.length !== this.dimensions) throw new SwitchyardError('DIMENSION_MISMATCH', `vector record ${JSON.stringify(r.id)} has ${r.embedding.length} dimensions; the store has ${this.dimensions}`, { id: r.id, field: 'embedding' });
      for (let i = 0; i < r.embedding.length; i++) if (!Number.isFinite(r.embedding[i])) throw bad(`embedding[${i}]`, 'is not a finite number');
      if (r.metadata !== undefined && r.metadata !== null && (typeof r.metadata !== 'object' || Array.isArray(r.metadata))) throw bad('metadata', 'must be an object');
      for (const [k, v] of Object.entries(r.metadata ?? {})) {
        if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) throw bad(`metadata.${k}`, 'must be a string, number, boolean or null');
        unpaired(`metadata.${k}`, k);
        if (typeof v === 'string') unpaired(`metadata.${k}`, v);
        if (typeof v === 'number' && !Number.isFinite(v)) throw bad(`metadata.${k}`, 'must be finite');
      }
      const refused = this.refuse(r);
      if (refused) {
        throw new SwitchyardError('BAD_INPUT', `vector record ${JSON.stringify(r.id)}: ${refused.field} ${refused.why}`, { id: r.id, field: refused.field, provider: this.provider });
      }
    }
  }

  /** Inserts or replaces records by id. All-or-nothing per call. */
  async upsert(records: VectorRecord[]): Promise<void> {
    if (!this.checkedBatch(records)) return;
    await this.guard(() => this.doUpsert(records), 'upsert');
  }

  /**
   * Inserts records of which none may be stored yet (a bulk copy whose duplicates are an error): an id
   * already there fails the whole call with CONFLICT and writes nothing. All-or-nothing per call.
   */
  async insertNew(records: VectorRecord[]): Promise<void> {
    if (!this.checkedBatch(records)) return;
    await this.guard(() => this.doInsertNew(records), 'upsert');
  }

  /** By default: look the ids up, then upsert. pgvector writes straight into its table instead. */
  protected async doInsertNew(records: VectorRecord[]): Promise<void> {
    const present = await this.doExistingIds(records.map((r) => r.id));
    if (present.length) throw this.alreadyStored(present.length, present[0]);
    await this.doUpsert(records);
  }

  protected alreadyStored(n: number | null, example: string | null): SwitchyardError {
    const what = n === null ? 'vector ids being written are' : `${n} of the vector ids being written ${n === 1 ? 'is' : 'are'}`;
    return new SwitchyardError('CONFLICT', `${what} already in ${this.provider} collection "${this.collection}" at ${this.location}${example === null ? '' : ` (e.g. ${JSON.stringify(example)})`}`, { collection: this.collection, present: n });
  }

  /** The shared checks of a write batch; false when there is nothing to write. */
  private checkedBatch(records: VectorRecord[]): boolean {
    this.assertWritable();
    this.assertUsable();
    if (!records.length) return false;
    this.validate(records);
    const seen = new Set<string>();
    for (const r of records) {
      if (seen.has(r.id)) throw new SwitchyardError('BAD_INPUT', `vector record id ${JSON.stringify(r.id)} appears twice in one batch`);
      seen.add(r.id);
    }
    return true;
  }

  /** User-scoped k nearest neighbours, best first. */
  async query(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]> {
    this.assertUsable();
    if (embedding.length !== this.dimensions) {
      throw new SwitchyardError('DIMENSION_MISMATCH', `query vector has ${embedding.length} dimensions; the store has ${this.dimensions}`);
    }
    if (!q.userId) throw new SwitchyardError('BAD_INPUT', 'userId is required for a vector query');
    if (!Number.isInteger(q.k) || q.k < 1) throw new SwitchyardError('BAD_INPUT', 'k must be a positive integer');
    const matches = await this.guard(() => this.doQuery(embedding, q), 'query');
    return matches.filter((m) => m.userId === q.userId && (q.documentId === undefined || m.documentId === q.documentId));
  }

  async deleteByDocument(userId: string, documentId: string): Promise<number> {
    this.assertWritable();
    return this.guard(() => this.doDeleteByDocument(userId, documentId), 'delete');
  }

  async deleteIds(ids: string[]): Promise<void> {
    this.assertWritable();
    if (ids.length) await this.guard(() => this.doDeleteIds(ids), 'delete');
  }

  async count(filter: { userId?: string; documentId?: string } = {}): Promise<number> {
    return this.guard(() => this.doCount(filter), 'count');
  }

  /** Every record of one user's document (a live migration re-copies a changed document this way). */
  async documentRecords(userId: string, documentId: string): Promise<VectorRecord[]> {
    const found = await this.guard(() => this.doDocumentRecords(userId, documentId), 'read');
    return found.sort((a, b) => a.chunkIndex - b.chunkIndex || compareIds(a.id, b.id));
  }

  async existingIds(ids: string[]): Promise<string[]> {
    return ids.length ? this.guard(() => this.doExistingIds(ids), 'read') : [];
  }

  /** The stored records of these ids, in the order given; ids with no record are left out. */
  async records(ids: string[]): Promise<VectorRecord[]> {
    if (!ids.length) return [];
    const found = new Map((await this.guard(() => this.doRecords(ids), 'read')).map((r) => [r.id, r]));
    return ids.flatMap((id) => found.get(id) ?? []);
  }

  /**
   * Every record in ascending id order (compareIds), a page at a time; resumable after an id. Pages
   * may be short (records deleted meanwhile); the scan ends only when the store has no record with an
   * id above the last one yielded. A record present for the whole scan is yielded exactly once.
   */
  scan(pageSize: number, after?: string, until?: string): AsyncGenerator<VectorRecord[]> {
    return this.scanWith((n, from) => this.doPage(n, from), pageSize, after, until);
  }

  /**
   * scan() without the embeddings' values: each record's fields and its stored embedding's dimension.
   * What a comparison of fields needs (a re-index's verification), at a fraction of the bytes.
   */
  scanFields(pageSize: number, after?: string, until?: string): AsyncGenerator<StoredFields[]> {
    return this.scanWith((n, from) => this.doFieldPage(n, from), pageSize, after, until);
  }

  /**
   * scan() of these users' records only: what scan() yields of them, in id order (pages may be short). Where
   * the driver can filter by user it reads nothing else; otherwise the whole store is scanned and filtered.
   */
  async *scanUsers(userIds: string[], pageSize: number): AsyncGenerator<VectorRecord[]> {
    if (!userIds.length) return;
    const wanted = new Set(userIds);
    const read = this.doUserPage?.bind(this);
    if (read) return yield* this.scanWith((n, from) => read([...wanted], n, from), pageSize);
    for await (const page of this.scan(pageSize)) {
      const mine = page.filter((r) => wanted.has(r.userId));
      if (mine.length) yield mine;
    }
  }

  /** records() without the embeddings' values (their dimension only), in the order of `ids`. */
  async fieldRecords(ids: string[]): Promise<StoredFields[]> {
    if (!ids.length) return [];
    const found = new Map((await this.guard(() => this.doFieldRecords(ids), 'read')).map((r) => [r.id, r]));
    return ids.flatMap((id) => found.get(id) ?? []);
  }

  private async *scanWith<R extends { id: string }>(read: (limit: number, after: string | undefined) => Promise<R[]>, pageSize: number, after?: string, until?: string): AsyncGenerator<R[]> {
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new SwitchyardError('BAD_INPUT', `scan page size must be a positive integer; got ${pageSize}`);
    let cursor = after;
    for (;;) {
      const page = await this.guard(() => read(pageSize, cursor), 'scan');
      if (!page.length) return;
      for (const r of page) {
        if (cursor !== undefined && compareIds(r.id, cursor) <= 0) {
          throw new SwitchyardError('INTERNAL', `${this.provider} scan of "${this.collection}" at ${this.location} returned id ${JSON.stringify(r.id)} after ${JSON.stringify(cursor)}: ids must ascend`);
        }
        cursor = r.id;
      }
      // A range (after, until]: the scan ends at the first id above `until`.
      if (until !== undefined && compareIds(cursor!, until) > 0) {
        const within = page.filter((r) => compareIds(r.id, until) <= 0);
        if (within.length) yield within;
        return;
      }
      yield page;
    }
  }

  /**
   * Ids that cut the collection into ranges of `every` records in scan order: the ranges (, k1], (k1, k2],
   * ..., (kn, ) cover every record (the last one also those added above kn later). Reads ids only where
   * the driver can.
   */
  async splitPoints(every: number): Promise<string[]> {
    if (!Number.isInteger(every) || every < 1) throw new SwitchyardError('BAD_INPUT', `split size must be a positive integer; got ${every}`);
    const out: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const ids = await this.guard(() => this.doIdPage(every, cursor), 'scan');
      if (ids.length < every) return out;
      cursor = ids[ids.length - 1];
      out.push(cursor);
    }
  }

  /** Up to `limit` ids above `after`, ascending (compareIds); drivers that can read ids alone override it. */
  protected async doIdPage(limit: number, after: string | undefined): Promise<string[]> {
    return (await this.doPage(limit, after)).map((r) => r.id);
  }

  /** Records the embedding model the stored vectors were made with. */
  async recordModel(model: string): Promise<void> {
    this.assertWritable();
    const meta = { dimensions: this.stored?.dimensions ?? this.dimensions, model, metric: this.stored?.metric ?? 'cosine' };
    await this.guard(() => this.writeMeta(meta));
    this.stored = meta;
    this.model = model;
  }

  /**
   * The same provider at the same place (server, database, file) with another collection, dimensions
   * and model: the store of an embedding generation. Not connected yet (init() it).
   */
  abstract sibling(collection: string, dimensions: number, model: string): VectorDb;

  /** Removes the collection with every record in it (the GC of an embedding generation nobody uses). */
  async destroy(): Promise<void> {
    this.assertWritable();
    await this.guard(() => this.drop());
    this.stored = null;
    this.initialised = false;
  }

  /** Drops every record and recreates the collection for the configured dimensions and model. */
  async reset(): Promise<void> {
    this.assertWritable();
    await this.guard(() => this.drop());
    const meta = { dimensions: this.dimensions, model: this.model, metric: 'cosine' };
    await this.guard(() => this.create(meta));
    this.stored = meta;
    this.initialised = true;
  }

  /** Turns driver/network failures into PROVIDER_UNAVAILABLE; domain errors pass through. */
  protected async guard<T>(fn: () => Promise<T>, op = 'other'): Promise<T> {
    return timed(() => this.unguarded(fn), (seconds, error) => ({ kind: 'provider-call', port: 'vector', provider: this.provider, op, seconds, error }));
  }

  private async unguarded<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof SwitchyardError) throw e;
      if (this.isUnavailable(e)) throw new ProviderUnavailableError(`${this.provider} vector store at ${this.location}`, e);
      throw new SwitchyardError('INTERNAL', `${this.provider} vector store at ${this.location}: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e });
    }
  }

  /** Whether an error means the store cannot be reached (vs. a bad request). */
  protected isUnavailable(e: unknown): boolean {
    const code = (e as { code?: string })?.code;
    const msg = e instanceof Error ? `${e.name} ${e.message}` : String(e);
    return (
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', '57P01', '57P03', '08006', '08001', 'SQLITE_CANTOPEN', 'SQLITE_BUSY'].includes(code ?? '') ||
      /ECONNREFUSED|fetch failed|ChromaConnectionError|Connection terminated|timeout/i.test(msg)
    );
  }
}
