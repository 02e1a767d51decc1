import { VectorDbConfig } from '@switchyard/core';
import { ChromaClient, Collection, Metadata as ChromaMetadata, Where } from 'chromadb';
import { VectorDb } from '../vector-db.port';
import { Metadata, StoredMeta, VectorMatch, VectorQuery, VectorRecord } from '../vector-db.types';

type Config = Extract<VectorDbConfig, { provider: 'chromadb' }>;

/**
 * Reserved metadata keys: the record's fields, the exact user metadata as JSON (Chroma drops nulls and
 * rounds some floats in its native metadata, which is still written for filtering), and the exact vector.
 */
const K = { user: 'userId', doc: 'documentId', chunk: 'chunkIndex', meta: '__sy_meta', f32: '__sy_f32' } as const;
const RESERVED = new Set<string>(Object.values(K));
const META = { dims: 'switchyard:dimensions', model: 'switchyard:model', metric: 'hnsw:space' } as const;
/** Chroma caps ids per request; stay well below. */
const MAX_BATCH = 1000;

function toChroma(r: VectorRecord): ChromaMetadata {
  const m: ChromaMetadata = { [K.user]: r.userId, [K.doc]: r.documentId, [K.chunk]: r.chunkIndex };
  for (const [k, v] of Object.entries(r.metadata ?? {})) if (!RESERVED.has(k) && v !== null) m[k] = v;
  m[K.meta] = JSON.stringify(r.metadata ?? {});
  // A cosine collection stores vectors re-normalised; keep the exact float32 bytes so a copy out of
  // Chroma returns exactly what was written (verified by checksum after migrations).
  m[K.f32] = Buffer.from(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength).toString('base64');
  return m;
}

/** The exact vector written, if recorded and consistent with what Chroma holds; else Chroma's. */
function embeddingOf(m: ChromaMetadata | null, stored: ArrayLike<number> | null | undefined): Float32Array {
  const fromChromaVec = Float32Array.from(stored ?? []);
  const raw = m?.[K.f32];
  if (typeof raw !== 'string') return fromChromaVec;
  const b = Buffer.from(raw, 'base64');
  const exact = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  if (exact.length !== fromChromaVec.length) return fromChromaVec;
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < exact.length; i++) (dot += exact[i] * fromChromaVec[i]), (na += exact[i] ** 2), (nb += fromChromaVec[i] ** 2);
  return na > 0 && nb > 0 && dot / Math.sqrt(na * nb) > 0.9999 ? exact : fromChromaVec;
}

function fromChroma(id: string, content: string | null, m: ChromaMetadata | null) {
  const src = m ?? {};
  let meta: Metadata = {};
  if (typeof src[K.meta] === 'string') meta = JSON.parse(src[K.meta] as string) as Metadata;
  else {
    for (const [k, v] of Object.entries(src)) {
      if (!RESERVED.has(k) && (v === null || ['string', 'number', 'boolean'].includes(typeof v))) meta[k] = v as Metadata[string];
    }
  }
  // Collections written by other tools (the seed guide's) may use snake_case and keep no chunk index.
  const userId = String(src[K.user] ?? src.user_id ?? '');
  const documentId = String(src[K.doc] ?? src.document_id ?? '');
  for (const k of ['user_id', 'document_id']) delete meta[k];
  return { id, userId, documentId, chunkIndex: Number(src[K.chunk] ?? 0), content: content ?? String(src.content ?? ''), metadata: meta };
}

/**
 * ChromaDB server over HTTP. One collection, created with cosine space; the dimension and embedding
 * model are recorded in the collection's metadata. Paging snapshots the sorted id list first, then
 * fetches by id in batches, because Chroma has no stable "id > cursor" read.
 */
export class ChromaVectorDb extends VectorDb {
  readonly provider = 'chromadb' as const;
  readonly location: string;
  private client?: ChromaClient;
  private coll?: Collection;
  /** Sorted id snapshot used by scan(), taken at the first page. */
  private snapshot?: string[];

  constructor(config: Config, model: string | null) {
    super(config.collection, config.dimensions, model);
    this.location = config.url;
    const u = new URL(config.url);
    this.clientArgs = { host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)), ssl: u.protocol === 'https:' };
  }
  private readonly clientArgs: { host: string; port: number; ssl: boolean };

  protected async connect(): Promise<void> {
    this.client ??= new ChromaClient(this.clientArgs);
    await this.client.heartbeat();
  }

  private async handle(): Promise<Collection> {
    if (!this.coll) throw new Error(`collection ${this.collection} is not open`);
    return this.coll;
  }

  protected async readMeta(): Promise<StoredMeta | null> {
    const names = (await this.client!.listCollections()).map((c) => c.name);
    if (!names.includes(this.collection)) return null;
    this.coll = await this.client!.getCollection({ name: this.collection, embeddingFunction: null as never });
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
    const names = (await this.client!.listCollections()).map((c) => c.name);
    if (names.includes(this.collection)) await this.client!.deleteCollection({ name: this.collection });
    this.coll = undefined;
    this.snapshot = undefined;
  }

  protected async doUpsert(records: VectorRecord[]): Promise<void> {
    const coll = await this.handle();
    for (let i = 0; i < records.length; i += MAX_BATCH) {
      const part = records.slice(i, i + MAX_BATCH);
      // Chroma's upsert merges metadata keys; a replaced record must not keep the old ones.
      const existing = await this.doExistingIds(part.map((r) => r.id));
      if (existing.length) await coll.delete({ ids: existing });
      await coll.add({
        ids: part.map((r) => r.id),
        embeddings: part.map((r) => Array.from(r.embedding)),
        documents: part.map((r) => r.content),
        metadatas: part.map(toChroma),
      });
    }
    this.snapshot = undefined;
  }

  protected async doQuery(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]> {
    const coll = await this.handle();
    const where: Where = q.documentId === undefined ? { [K.user]: q.userId } : { $and: [{ [K.user]: q.userId }, { [K.doc]: q.documentId }] };
    const res = await coll.query({
      queryEmbeddings: [Array.from(embedding)],
      nResults: q.k,
      where,
      include: ['documents', 'metadatas', 'distances'] as never,
    });
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
    const found = await coll.get({ where, include: [] });
    if (found.ids.length) await this.doDeleteIds(found.ids);
    return found.ids.length;
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
    const found = await coll.get({ where: parts.length === 1 ? parts[0] : { $and: parts }, include: [] });
    return found.ids.length;
  }

  private async allIds(): Promise<string[]> {
    const coll = await this.handle();
    const ids: string[] = [];
    const total = await coll.count();
    for (let offset = 0; offset < total; offset += 10_000) {
      const page = await coll.get({ limit: 10_000, offset, include: [] });
      ids.push(...page.ids);
      if (page.ids.length < 10_000) break;
    }
    return ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  protected async doPage(limit: number, after: string | undefined): Promise<VectorRecord[]> {
    if (after === undefined || !this.snapshot) this.snapshot = await this.allIds();
    const ids = this.snapshot;
    let lo = 0;
    if (after !== undefined) {
      let hi = ids.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ids[mid] <= after) lo = mid + 1;
        else hi = mid;
      }
    }
    const want = ids.slice(lo, lo + limit);
    if (!want.length) return [];
    return this.getByIds(want);
  }

  /** Records for these ids, in the order given (ids that no longer exist are skipped). */
  async getByIds(ids: string[]): Promise<VectorRecord[]> {
    const coll = await this.handle();
    const byId = new Map<string, VectorRecord>();
    for (let i = 0; i < ids.length; i += MAX_BATCH) {
      const res = await coll.get({ ids: ids.slice(i, i + MAX_BATCH), include: ['embeddings', 'documents', 'metadatas'] as never });
      res.ids.forEach((id, j) => {
        byId.set(id, { ...fromChroma(id, res.documents?.[j] ?? null, res.metadatas?.[j] ?? null), embedding: embeddingOf(res.metadatas?.[j] ?? null, res.embeddings?.[j]) });
      });
    }
    return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
  }

  protected async doExistingIds(ids: string[]): Promise<string[]> {
    const coll = await this.handle();
    const out: string[] = [];
    for (let i = 0; i < ids.length; i += MAX_BATCH) out.push(...(await coll.get({ ids: ids.slice(i, i + MAX_BATCH), include: [] })).ids);
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
