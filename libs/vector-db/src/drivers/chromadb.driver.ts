import { DEFAULT_PROVIDER_TIMEOUT_MS, SwitchyardError, VectorDbConfig } from '@switchyard/core';
import { ChromaClient, ChromaNotFoundError, Collection, Metadata as ChromaMetadata, Where } from 'chromadb';
import { assertCollectionName } from '../identifiers';
import { compareIds, VectorDb } from '../vector-db.port';
import { StoredMeta, VectorMatch, VectorQuery, VectorRecord } from '../vector-db.types';
import { CHROMA_KEYS, CHROMA_META, embeddingOf, fromChroma, RESERVED_KEYS } from './chroma-records';

type Config = Extract<VectorDbConfig, { provider: 'chromadb' }>;

const K = CHROMA_KEYS;
const META = CHROMA_META;
/** Chroma caps ids per request; stay well below. */
const MAX_BATCH = 1000;
/** How often listing all ids is started again when deletions keep shifting the offsets. */
const LIST_ATTEMPTS = 5;
/** A read the server failed on its side while records were being written (seen: "Error finding id"): asked again. */
const TRANSIENT_READ = /Error finding id|Error executing plan/i;
const READ_ATTEMPTS = 4;

function toChroma(r: VectorRecord): ChromaMetadata {
  const m: ChromaMetadata = { [K.user]: r.userId, [K.doc]: r.documentId, [K.chunk]: r.chunkIndex };
  for (const [k, v] of Object.entries(r.metadata ?? {})) if (!RESERVED_KEYS.has(k) && v !== null) m[k] = v;
  m[K.meta] = JSON.stringify(r.metadata ?? {});
  // A cosine collection stores vectors re-normalised; keep the exact float32 bytes so a copy out of
  // Chroma returns exactly what was written (verified by checksum after migrations).
  m[K.f32] = Buffer.from(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength).toString('base64');
  return m;
}

/** Index of the first id in sorted `ids` that is above `after`. */
function firstAbove(ids: string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareIds(ids[mid], after) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * ChromaDB server over HTTP. One collection, created with cosine space; the dimension and embedding
 * model are recorded in the collection's metadata. Chroma has no "id > cursor" read, so paging lists
 * the ids (a snapshot, sorted in byte order), then fetches the next ids above the cursor by id. Ids
 * deleted since the snapshot are skipped (pages may be short) and the scan goes on; when the snapshot
 * is used up, the ids are listed again, and the scan ends only when no id above the cursor is left.
 */
export class ChromaVectorDb extends VectorDb {
  readonly provider = 'chromadb' as const;
  readonly location: string;
  private client?: ChromaClient;
  private coll?: Collection;
  /** Sorted id snapshot used by scan(), taken at the first page and again when it is used up. */
  private snapshot?: string[];
  /** The id listing splitPoints() walks (ids only). */
  private idListing?: string[];
  /** Ids per listing request while taking a snapshot. */
  protected listPage = 10_000;

  sibling(collection: string, dimensions: number, model: string): ChromaVectorDb {
    return new ChromaVectorDb({ ...this.config, collection, dimensions }, model);
  }

  constructor(private readonly config: Config, model: string | null) {
    super(config.collection, config.dimensions, model);
    assertCollectionName(this.provider, config.collection);
    this.location = config.url;
    const u = new URL(config.url);
    this.clientArgs = { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), ssl: u.protocol === 'https:' };
    this.timeoutMs = config.timeoutMs ?? DEFAULT_PROVIDER_TIMEOUT_MS;
  }
  private readonly clientArgs: { host: string; port: number; ssl: boolean };
  /** VECTOR_DB_TIMEOUT_MS: the longest one request may wait for its whole answer. */
  private readonly timeoutMs: number;

  /**
   * A client whose every request is aborted after timeoutMs (the client has no timeout of its own: a
   * server that accepts the connection and never answers would hold a search for minutes). Its fetch is
   * the library's own, given a signal that also fires on the timeout.
   */
  private newClient(): ChromaClient {
    const client = new ChromaClient(this.clientArgs);
    type Fetch = (req: Request, init?: RequestInit) => Promise<Response>;
    const api = (client as unknown as { apiClient?: { getConfig(): { fetch?: Fetch }; setConfig(c: { fetch: Fetch }): void } }).apiClient;
    const inner = api?.getConfig().fetch;
    if (!api || !inner) throw new Error('chromadb client without a configurable fetch: this driver needs chromadb 3.x');
    api.setConfig({ fetch: (req, init) => inner(req, { ...init, signal: AbortSignal.any([init?.signal ?? req.signal, AbortSignal.timeout(this.timeoutMs)]) }) });
    return client;
  }

  protected async connect(): Promise<void> {
    this.client ??= this.newClient();
    await this.client.heartbeat();
  }

  private async handle(): Promise<Collection> {
    if (!this.coll) throw new Error(`collection ${this.collection} is not open`);
    return this.coll;
  }

  /** The collection, or null if the server has none of that name (never creates it). */
  private async find(): Promise<Collection | null> {
    try {
      return await this.client!.getCollection({ name: this.collection, embeddingFunction: null as never });
    } catch (e) {
      if (e instanceof ChromaNotFoundError) return null;
      throw e;
    }
  }

  protected async readMeta(): Promise<StoredMeta | null> {
    const found = await this.find();
    if (!found) return null;
    this.coll = found;
    const md = this.coll.metadata ?? {};
    let dims = typeof md[META.dims] === 'number' ? (md[META.dims] as number) : null;
    if (dims === null) {
      // A collection made by another tool: learn the dimension from a stored vector.
      const peek = await this.coll.get({ limit: 1, include: ['embeddings' as never] });
      dims = peek.embeddings?.[0]?.length ?? this.dimensions;
    }
    const space = (this.coll.configuration as { hnsw?: { space?: string } } | undefined)?.hnsw?.space ?? (md[META.metric] as string | undefined) ?? 'l2';
    return { dimensions: dims, model: typeof md[META.model] === 'string' ? (md[META.model] as string) : null, metric: space };
  }

  protected async writeMeta(meta: StoredMeta): Promise<void> {
    const coll = await this.handle();
    await coll.modify({ metadata: { ...(coll.metadata ?? {}), [META.dims]: meta.dimensions, ...(meta.model ? { [META.model]: meta.model } : {}) } });
  }

  protected async create(meta: StoredMeta): Promise<void> {
    this.coll = await this.client!.getOrCreateCollection({
      name: this.collection,
      embeddingFunction: null as never,
      configuration: { hnsw: { space: 'cosine' } },
      metadata: { [META.dims]: meta.dimensions, ...(meta.model ? { [META.model]: meta.model } : {}) },
    });
  }

  protected async drop(): Promise<void> {
    try {
      await this.client!.deleteCollection({ name: this.collection });
    } catch (e) {
      if (!(e instanceof ChromaNotFoundError)) throw e;
    }
    this.coll = undefined;
    this.snapshot = undefined;
  }

  /** `chromadb:<tenant>:<database>:<collection id>`: the id is the server's UUID of the collection. */
  async identity(): Promise<string> {
    return this.guard(async () => {
      this.client ??= this.newClient();
      const coll = this.coll ?? (await this.find());
      if (!coll) throw new SwitchyardError('NOT_FOUND', `chromadb collection "${this.collection}" does not exist at ${this.location}`, { provider: this.provider, collection: this.collection });
      return `chromadb:${coll.tenant}:${coll.database}:${coll.id}`;
    });
  }

  /**
   * Chroma's upsert replaces a record in one step (a concurrent reader sees the old or the new one, never
   * neither) but merges metadata keys. A record whose new metadata lacks a key the stored one has is
   * deleted and added instead, so no stale key stays (a reader may miss that record for a moment).
   */
  protected async doUpsert(records: VectorRecord[]): Promise<void> {
    const coll = await this.handle();
    for (let i = 0; i < records.length; i += MAX_BATCH) {
      const part = records.slice(i, i + MAX_BATCH);
      const metadatas = part.map(toChroma);
      const next = new Map(part.map((r, j) => [r.id, metadatas[j]]));
      const old = await this.read(() => coll.get({ ids: part.map((r) => r.id), include: ['metadatas'] as never }));
      const stale = old.ids.filter((id, j) => Object.keys(old.metadatas?.[j] ?? {}).some((k) => !(k in next.get(id)!)));
      if (stale.length) await coll.delete({ ids: stale });
      await coll.upsert({
        ids: part.map((r) => r.id),
        embeddings: part.map((r) => Array.from(r.embedding)),
        documents: part.map((r) => r.content),
        metadatas,
      });
    }
    this.snapshot = undefined;
  }

  /**
   * An idempotent read, asked again (up to READ_ATTEMPTS, with a short backoff) when the server fails it
   * with an internal error it gives under concurrent writes ("Error executing plan: ... Error finding id").
   */
  private async read<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (attempt >= READ_ATTEMPTS || !TRANSIENT_READ.test(e instanceof Error ? e.message : String(e))) throw e;
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }

  protected async doQuery(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]> {
    const coll = await this.handle();
    const where: Where = q.documentId === undefined ? { [K.user]: q.userId } : { $and: [{ [K.user]: q.userId }, { [K.doc]: q.documentId }] };
    const res = await this.read(() =>
      coll.query({
        queryEmbeddings: [Array.from(embedding)],
        nResults: q.k,
        where,
        include: ['documents', 'metadatas', 'distances'] as never,
      }),
    );
    const ids = res.ids[0] ?? [];
    return ids
      .map((id, i) => {
        const distance = Number(res.distances?.[0]?.[i] ?? 1);
        return { ...fromChroma(id, res.documents?.[0]?.[i] ?? null, res.metadatas?.[0]?.[i] ?? null), distance, score: 1 - distance };
      })
      .sort((a, b) => a.distance - b.distance || (a.id < b.id ? -1 : 1));
  }

  protected async doDeleteByDocument(userId: string, documentId: string): Promise<number> {
    const coll = await this.handle();
    const where: Where = { $and: [{ [K.user]: userId }, { [K.doc]: documentId }] };
    const found = await this.read(() => coll.get({ where, include: [] }));
    if (found.ids.length) await this.doDeleteIds(found.ids);
    return found.ids.length;
  }

  protected async doDocumentRecords(userId: string, documentId: string): Promise<VectorRecord[]> {
    const coll = await this.handle();
    const found = await this.read(() => coll.get({ where: { $and: [{ [K.user]: userId }, { [K.doc]: documentId }] }, include: [] }));
    return this.getByIds(found.ids);
  }

  protected async doDeleteIds(ids: string[]): Promise<void> {
    const coll = await this.handle();
    for (let i = 0; i < ids.length; i += MAX_BATCH) await coll.delete({ ids: ids.slice(i, i + MAX_BATCH) });
    this.snapshot = undefined;
  }

  protected async doCount(filter: { userId?: string; documentId?: string }): Promise<number> {
    const coll = await this.handle();
    const parts: Where[] = [
      ...(filter.userId !== undefined ? [{ [K.user]: filter.userId }] : []),
      ...(filter.documentId !== undefined ? [{ [K.doc]: filter.documentId }] : []),
    ];
    if (!parts.length) return coll.count();
    const found = await this.read(() => coll.get({ where: parts.length === 1 ? parts[0] : { $and: parts }, include: [] }));
    return found.ids.length;
  }

  /** One listing request: ids in Chroma's own order, from `offset`. */
  protected async listIds(offset: number, limit: number): Promise<string[]> {
    return (await this.read(async () => (await this.handle()).get({ limit, offset, include: [] }))).ids;
  }

  /** Every id, sorted by compareIds. */
  private async allIds(): Promise<string[]> {
    for (let attempt = 1; ; attempt++) {
      const ids = await this.listOnce();
      if (ids) return ids.sort(compareIds);
      if (attempt === LIST_ATTEMPTS) {
        throw new SwitchyardError('CONFLICT', `chromadb collection "${this.collection}" at ${this.location} kept changing while its ids were listed (${LIST_ATTEMPTS} attempts); retry when fewer records are being deleted from it`);
      }
    }
  }

  /**
   * All ids by offset pages that overlap the previous one. Records deleted meanwhile shift later ones
   * to lower offsets; as long as a page still holds one of the previous page's last ids, nothing was
   * skipped. If none is there, ids may have been skipped: null, list again.
   */
  private async listOnce(): Promise<string[] | null> {
    const size = this.listPage;
    const overlap = Math.max(1, Math.floor(size / 10));
    const seen = new Set<string>();
    let tail: Set<string> | null = null;
    let start = 0;
    for (;;) {
      const page = await this.listIds(start, size);
      if (tail && !page.some((id) => tail!.has(id))) return null;
      for (const id of page) seen.add(id);
      if (page.length < size) return [...seen];
      tail = new Set(page.slice(-overlap));
      start += size - overlap;
    }
  }

  protected async doPage(limit: number, after: string | undefined): Promise<VectorRecord[]> {
    let fresh = false;
    if (after === undefined || !this.snapshot) (this.snapshot = await this.allIds()), (fresh = true);
    for (;;) {
      const ids = this.snapshot;
      for (let pos = after === undefined ? 0 : firstAbove(ids, after); pos < ids.length; pos += limit) {
        const got = await this.getByIds(ids.slice(pos, pos + limit));
        // All of these ids were deleted since the snapshot: look at the next ones.
        if (got.length) return got;
      }
      // Used up: ids may have been added above the cursor since. Done only if a new listing has none.
      if (fresh) return [];
      this.snapshot = await this.allIds();
      fresh = true;
    }
  }

  /** The users' ids listed by a metadata filter, sorted; then the first `limit` above `after` that still exist. */
  protected override async doUserPage(userIds: string[], limit: number, after: string | undefined): Promise<VectorRecord[]> {
    const listed = await this.read(async () => (await this.handle()).get({ where: { [K.user]: { $in: userIds } }, include: [] }));
    const ids = listed.ids.sort(compareIds);
    for (let pos = after === undefined ? 0 : firstAbove(ids, after); pos < ids.length; pos += limit) {
      const got = await this.getByIds(ids.slice(pos, pos + limit));
      if (got.length) return got;
    }
    return [];
  }

  /** From one listing of every id (Chroma has no id order of its own). */
  protected override async doIdPage(limit: number, after: string | undefined): Promise<string[]> {
    if (after === undefined || !this.idListing) this.idListing = await this.allIds();
    const ids = this.idListing;
    const from = after === undefined ? 0 : firstAbove(ids, after);
    const page = ids.slice(from, from + limit);
    if (page.length < limit) this.idListing = undefined;
    return page;
  }

  /** Records for these ids, in the order given (ids that no longer exist are skipped). */
  async getByIds(ids: string[]): Promise<VectorRecord[]> {
    const coll = await this.handle();
    const byId = new Map<string, VectorRecord>();
    for (let i = 0; i < ids.length; i += MAX_BATCH) {
      const res = await this.read(() => coll.get({ ids: ids.slice(i, i + MAX_BATCH), include: ['embeddings', 'documents', 'metadatas'] as never }));
      res.ids.forEach((id, j) => {
        byId.set(id, { ...fromChroma(id, res.documents?.[j] ?? null, res.metadatas?.[j] ?? null), embedding: embeddingOf(res.metadatas?.[j] ?? null, res.embeddings?.[j]) });
      });
    }
    return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
  }

  protected doRecords(ids: string[]): Promise<VectorRecord[]> {
    return this.getByIds(ids);
  }

  protected async doExistingIds(ids: string[]): Promise<string[]> {
    const coll = await this.handle();
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += MAX_BATCH) out.push(...(await this.read(() => coll.get({ ids: ids.slice(i, i + MAX_BATCH), include: [] }))).ids);
    return out;
  }

  async ping(): Promise<boolean> {
    try {
      await this.client?.heartbeat();
      return !!this.client;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.coll = undefined;
    this.client = undefined;
  }
}
