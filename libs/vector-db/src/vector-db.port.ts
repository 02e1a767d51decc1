import { ErrorCode, ProviderUnavailableError, SwitchyardError, VectorProvider } from '@switchyard/core';
import { StoredMeta, VectorMatch, VectorQuery, VectorRecord, VectorStoreInfo } from './vector-db.types';

const ID_MAX = 255;

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

  /**
   * @param collection table / collection name
   * @param dimensions configured dimension (VECTOR_DB_DIMENSIONS)
   * @param model embedding model the app writes with; null for a read-only migration source
   */
  protected constructor(
    readonly collection: string,
    readonly dimensions: number,
    protected model: string | null,
  ) {}

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
  /** Called after a bulk load (e.g. build an index deferred during the load). */
  async finishBulkLoad(): Promise<void> {}
  /** Called before a bulk load (e.g. drop an index to rebuild it once after). */
  async prepareBulkLoad(): Promise<void> {}
  abstract close(): Promise<void>;
  abstract ping(): Promise<boolean>;

  // ---- shared behaviour ---------------------------------------------------------------------
  /** Connects and creates the collection if missing (unless `createIfMissing: false`: a read-only source). A collection recorded with other dimensions or
   * another model is not written into: describe() reports it and writes/queries fail with a clear code. */
  async init(options: { createIfMissing?: boolean } = {}): Promise<void> {
    if (this.initialised) return;
    await this.guard(() => this.connect());
    this.stored = await this.guard(() => this.readMeta());
    if (!this.stored && options.createIfMissing === false) {
      throw new SwitchyardError('NOT_FOUND', `${this.provider} collection "${this.collection}" does not exist at ${this.location}`, { provider: this.provider, collection: this.collection });
    }
    if (!this.stored) {
      const meta = { dimensions: this.dimensions, model: this.model, metric: 'cosine' };
      await this.guard(() => this.create(meta));
      this.stored = meta;
    } else if (this.stored.model === null && this.model !== null && this.stored.dimensions === this.dimensions) {
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

  validate(records: VectorRecord[]): void {
    for (const r of records) {
      const bad = (why: string) => new SwitchyardError('BAD_INPUT', `vector record ${JSON.stringify(r.id)}: ${why}`, { id: r.id });
      if (typeof r.id !== 'string' || !r.id || r.id.length > ID_MAX) throw bad(`id must be 1..${ID_MAX} characters`);
      if (!r.userId || !r.documentId) throw bad('userId and documentId are required');
      if (!Number.isInteger(r.chunkIndex) || r.chunkIndex < 0) throw bad('chunkIndex must be a non-negative integer');
      if (!(r.embedding instanceof Float32Array)) throw bad('embedding must be a Float32Array');
      if (r.embedding.length !== this.dimensions) throw new SwitchyardError('DIMENSION_MISMATCH', `vector record ${JSON.stringify(r.id)} has ${r.embedding.length} dimensions; the store has ${this.dimensions}`, { id: r.id });
      for (let i = 0; i < r.embedding.length; i++) if (!Number.isFinite(r.embedding[i])) throw bad(`embedding[${i}] is not a finite number`);
      for (const [k, v] of Object.entries(r.metadata ?? {})) {
        if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) throw bad(`metadata.${k} must be a string, number, boolean or null`);
        if (typeof v === 'number' && !Number.isFinite(v)) throw bad(`metadata.${k} must be finite`);
      }
    }
  }

  /** Inserts or replaces records by id. All-or-nothing per call. */
  async upsert(records: VectorRecord[]): Promise<void> {
    this.assertUsable();
    if (!records.length) return;
    this.validate(records);
    const seen = new Set<string>();
    for (const r of records) {
      if (seen.has(r.id)) throw new SwitchyardError('BAD_INPUT', `vector record id ${JSON.stringify(r.id)} appears twice in one batch`);
      seen.add(r.id);
    }
    await this.guard(() => this.doUpsert(records));
  }

  /** User-scoped k nearest neighbours, best first. */
  async query(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]> {
    this.assertUsable();
    if (embedding.length !== this.dimensions) {
      throw new SwitchyardError('DIMENSION_MISMATCH', `query vector has ${embedding.length} dimensions; the store has ${this.dimensions}`);
    }
    if (!q.userId) throw new SwitchyardError('BAD_INPUT', 'userId is required for a vector query');
    if (!Number.isInteger(q.k) || q.k < 1) throw new SwitchyardError('BAD_INPUT', 'k must be a positive integer');
    const matches = await this.guard(() => this.doQuery(embedding, q));
    return matches.filter((m) => m.userId === q.userId && (q.documentId === undefined || m.documentId === q.documentId));
  }

  async deleteByDocument(userId: string, documentId: string): Promise<number> {
    return this.guard(() => this.doDeleteByDocument(userId, documentId));
  }

  async deleteIds(ids: string[]): Promise<void> {
    if (ids.length) await this.guard(() => this.doDeleteIds(ids));
  }

  async count(filter: { userId?: string; documentId?: string } = {}): Promise<number> {
    return this.guard(() => this.doCount(filter));
  }

  async existingIds(ids: string[]): Promise<string[]> {
    return ids.length ? this.guard(() => this.doExistingIds(ids)) : [];
  }

  /** Every record in ascending id order, a page at a time; resumable after an id. */
  async *scan(pageSize: number, after?: string): AsyncGenerator<VectorRecord[]> {
    let cursor = after;
    for (;;) {
      const page = await this.guard(() => this.doPage(pageSize, cursor));
      if (!page.length) return;
      yield page;
      if (page.length < pageSize) return;
      cursor = page[page.length - 1].id;
    }
  }

  /** Records the embedding model the stored vectors were made with. */
  async recordModel(model: string): Promise<void> {
    const meta = { dimensions: this.stored?.dimensions ?? this.dimensions, model, metric: this.stored?.metric ?? 'cosine' };
    await this.guard(() => this.writeMeta(meta));
    this.stored = meta;
    this.model = model;
  }

  /** Drops every record and recreates the collection for the configured dimensions and model. */
  async reset(): Promise<void> {
    await this.guard(() => this.drop());
    const meta = { dimensions: this.dimensions, model: this.model, metric: 'cosine' };
    await this.guard(() => this.create(meta));
    this.stored = meta;
    this.initialised = true;
  }

  /** Turns driver/network failures into PROVIDER_UNAVAILABLE; domain errors pass through. */
  protected async guard<T>(fn: () => Promise<T>): Promise<T> {
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
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', '57P01', '57P03', '08006', '08001', 'SQLITE_CANTOPEN'].includes(code ?? '') ||
      /ECONNREFUSED|fetch failed|ChromaConnectionError|Connection terminated|timeout/i.test(msg)
    );
  }
}
