import type { Embeddings } from '@switchyard/embeddings';
import type { DocumentsRepository } from '@switchyard/relational-db';
import { compareIds, VectorDb, VectorRecord } from '@switchyard/vector-db';
import type { ExportHeader } from './ndjson';

/** What a sampled check of vectors found: recall@10, and what is wrong if anything. */
export interface RecallResult {
  recall: number | null;
  problem: string | null;
}

/** The header of an export of a vector store: dimension, metric and model it was built with. */
export async function vectorHeader(db: VectorDb, source: string): Promise<ExportHeader> {
  const i = await db.describe();
  return {
    format: 'switchyard-ndjson',
    version: 1,
    kind: 'VECTORS',
    createdAt: new Date().toISOString(),
    source,
    collection: i.collection,
    dimensions: i.storedDimensions ?? i.dimensions,
    metric: i.storedMetric ?? i.metric,
    model: i.storedModel,
  };
}

/** Share of the source's user-scoped top-10 that the target also returns, over the sampled vectors. */
export async function compareNeighbours(source: VectorDb, target: VectorDb, samples: VectorRecord[]): Promise<RecallResult> {
  let hit = 0;
  let total = 0;
  for (const r of samples) {
    const [want, got] = await Promise.all([source.query(r.embedding, { userId: r.userId, k: 10 }), target.query(r.embedding, { userId: r.userId, k: 10 })]);
    const ids = new Set(got.map((m) => m.id));
    total += want.length;
    hit += want.filter((m) => ids.has(m.id)).length;
  }
  return { recall: total ? hit / total : null, problem: null };
}

const SAME_EMBEDDING = 0.999;

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) (dot += a[i] * b[i]), (na += a[i] * a[i]), (nb += b[i] * b[i]);
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/**
 * The samples with their stored embeddings, for those read without (a fields-only scan): the records
 * as stored now, in the samples' order; a sample deleted since it was read is left out.
 */
export async function withEmbeddings(target: VectorDb, samples: VectorRecord[]): Promise<VectorRecord[]> {
  if (samples.every((s) => s.embedding.length > 0)) return samples;
  return target.records(samples.map((s) => s.id));
}

/**
 * After a re-index, for sampled chunks of the target: their stored embedding must be what the model makes
 * of their text now (cosine >= 0.999), and the chunk must be found in the top 10 for its own text.
 */
export async function selfRetrieval(embeddings: Embeddings, target: VectorDb, samples: VectorRecord[]): Promise<RecallResult> {
  if (!samples.length) return { recall: null, problem: null };
  const vectors = await embeddings.embed(samples.map((s) => s.content));
  let hit = 0;
  const wrong: string[] = [];
  for (const [i, s] of samples.entries()) {
    if (s.embedding.length !== vectors[i].length || cosine(s.embedding, vectors[i]) < SAME_EMBEDDING) wrong.push(s.id);
    const found = await target.query(vectors[i], { userId: s.userId, k: 10 });
    if (found.some((m) => m.id === s.id)) hit++;
  }
  const problem = wrong.length
    ? `${wrong.length} of ${samples.length} sampled chunks have a stored embedding that is not what "${embeddings.model}" makes of their text (e.g. ${JSON.stringify(wrong[0])}); a re-index with full (CLI --full) embeds every document again, not only those whose text changed.`
    : null;
  return { recall: hit / samples.length, problem };
}

/** Where a target's vectors must find their documents: the relational database the app will use with them. */
export interface OrphanCheck {
  documents: DocumentsRepository;
  label: string;
  /** Checked even when that database holds no document at all (a live or whole-stack job: the app wrote both). */
  required: boolean;
}

/** Counts a target's vectors per (user, document) while they are scanned, then looks the documents up. */
export class OrphanTally {
  private readonly perDocument = new Map<string, number>();

  visit(r: VectorRecord): void {
    const key = JSON.stringify([r.userId, r.documentId]);
    this.perDocument.set(key, (this.perDocument.get(key) ?? 0) + 1);
  }

  /** Vectors without a document row, and a few of their documents; null when not checked (and why). */
  async result(check: OrphanCheck): Promise<{ orphans: number | null; note: string | null }> {
    if (!check.required && (await check.documents.countAll()) === 0) {
      return { orphans: null, note: `vectors were not checked against documents: ${check.label} holds none (a vector-only store).` };
    }
    const pairs = [...this.perDocument.keys()].map((k) => JSON.parse(k) as [string, string]);
    const found = await check.documents.existingKeys(pairs);
    let orphans = 0;
    const examples: string[] = [];
    for (const [key, n] of this.perDocument) {
      if (found.has(key)) continue;
      orphans += n;
      if (examples.length < 5) examples.push(key);
    }
    const docs = this.perDocument.size - found.size;
    const note = orphans ? `${orphans} vector(s) of ${docs} document(s) have no document row in ${check.label} (e.g. [user, document] ${examples.join(', ')}): search would return chunks of documents that do not exist.` : null;
    return { orphans, note };
  }
}

/** recall@10 of the target's own search against an exact scan of the target, below which verification says so. */
export const MIN_INDEX_RECALL = 0.99;

/**
 * The target's user-scoped top-10 for each sample against an exact scan of the target (every record of
 * the sample's user, by cosine distance, ties by id): what its approximate index (HNSW) loses, measured
 * where the app will search. One scan of the samples' users' records for all samples (the whole target
 * on a store that cannot read by user).
 */
export async function exactRecall(target: VectorDb, samples: VectorRecord[], pageSize = 1000): Promise<number | null> {
  if (!samples.length) return null;
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((n, x) => n + x * x, 0)) || 1;
  const queries = samples.map((s) => ({ s, n: norm(s.embedding), best: [] as { id: string; d: number }[] }));
  for await (const page of target.scanUsers(samples.map((s) => s.userId), pageSize)) {
    for (const r of page) {
      const rn = norm(r.embedding);
      for (const q of queries) {
        if (q.s.userId !== r.userId || r.embedding.length !== q.s.embedding.length) continue;
        let dot = 0;
        for (let i = 0; i < r.embedding.length; i++) dot += r.embedding[i] * q.s.embedding[i];
        const d = 1 - dot / (rn * q.n);
        const worst = q.best[q.best.length - 1];
        if (q.best.length === 10 && (d > worst.d || (d === worst.d && compareIds(r.id, worst.id) > 0))) continue;
        q.best.push({ id: r.id, d });
        q.best.sort((a, b) => a.d - b.d || compareIds(a.id, b.id));
        if (q.best.length > 10) q.best.pop();
      }
    }
  }
  let hit = 0;
  let total = 0;
  for (const q of queries) {
    const got = new Set((await target.query(q.s.embedding, { userId: q.s.userId, k: 10 })).map((m) => m.id));
    total += q.best.length;
    hit += q.best.filter((m) => got.has(m.id)).length;
  }
  return total ? hit / total : null;
}
