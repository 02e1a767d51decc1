/**
 * search: user-scoped top-10 on pgvector with an HNSW index, Switchyard (VectorDb.query, and
 * KnowledgeService.search which embeds the query first) against the same SQL sent by hand through `pg`.
 */
import { KnowledgeService } from '@switchyard/knowledge';
import { createVectorDb } from '@switchyard/vector-db';
import { Client } from 'pg';
import { localEmbeddings, log, now, percentile, rawPipeline, report, since, toConnection, withPg } from './common';
import { queryVector, rngFor, text, userId, vectorRow } from './gen';
import { MODEL } from './vectors';

const K = 10;

export interface SeedSearchArgs {
  pgUrl: string;
  n: number;
  dims: number;
  users: number;
}

/** n chunks through Switchyard's bulk path (binary COPY), then the HNSW index (built with 1 GB maintenance_work_mem: setup, not measured). */
export async function seedSearch(a: SeedSearchArgs): Promise<void> {
  const t0 = now();
  const db = createVectorDb({ provider: 'pgvector', connection: toConnection(a.pgUrl), dimensions: a.dims, collection: 'vector_embeddings' }, MODEL);
  await db.init();
  await db.prepareBulkLoad();
  for (let i = 0; i < a.n; i += 5000) await db.upsert(Array.from({ length: Math.min(5000, a.n - i) }, (_, j) => vectorRow(i + j, a.dims, a.users)));
  await db.close();
  const loadMs = since(t0);
  const t1 = now();
  await withPg(a.pgUrl, async (c) => {
    await c.query(`SET maintenance_work_mem = '1GB'`);
    await c.query('CREATE INDEX IF NOT EXISTS vector_embeddings_embedding_hnsw ON vector_embeddings USING hnsw (embedding vector_cosine_ops)');
    await c.query('VACUUM ANALYZE vector_embeddings');
  });
  report({ items: a.n, ms: since(t0), breakdown: { loadMs, indexMs: since(t1) } });
}

export interface SearchArgs {
  pgUrl: string;
  dims: number;
  users: number;
  queries: number;
  warmup: number;
  /** `vector`: VectorDb.query with pre-embedded query vectors; `knowledge`: KnowledgeService.search on query texts (embedded by the model). */
  mode: 'vector' | 'knowledge';
  modelPath?: string;
}

const queryText = (q: number) => text(rngFor('qtext', q), 40 + (q % 60));

function summary(lat: number[], extra: Record<string, number> = {}) {
  const s = [...lat].sort((x, y) => x - y);
  const total = lat.reduce((x, y) => x + y, 0);
  return { p50Ms: round(percentile(s, 50)), p95Ms: round(percentile(s, 95)), p99Ms: round(percentile(s, 99)), meanMs: round(total / lat.length), ...extra };
}
const round = (x: number) => Math.round(x * 1000) / 1000;

/** Switchyard: VectorDb.query (or KnowledgeService.search), one query at a time. */
export async function switchyardSearch(a: SearchArgs): Promise<void> {
  const vectors = createVectorDb({ provider: 'pgvector', connection: toConnection(a.pgUrl), dimensions: a.dims, collection: 'vector_embeddings' }, null);
  await vectors.init();
  let one: (q: number) => Promise<number>;
  let close = async () => undefined as unknown;
  if (a.mode === 'knowledge') {
    const embeddings = localEmbeddings(a.modelPath!);
    await embeddings.init();
    if (embeddings.dimensions !== a.dims) throw new Error(`model has ${embeddings.dimensions} dims, data ${a.dims}`);
    const options = { chunkSize: 1000, chunkOverlap: 200, maxDocumentBytes: 1 << 20, maxSearchLimit: 50, minScore: 0, answerContextChunks: 5 };
    // search() uses only the vector store and the embeddings; repositories and the LLM are not touched.
    const knowledge = new KnowledgeService(null as never, null as never, vectors, embeddings, null as never, options, null as never);
    one = async (q) => (await knowledge.search(userId(q % a.users), queryText(q), K)).length;
    close = () => embeddings.close();
  } else {
    const qv = Array.from({ length: a.warmup + a.queries }, (_, q) => queryVector(q, a.dims));
    one = async (q) => (await vectors.query(qv[q], { userId: userId(q % a.users), k: K })).length;
  }
  const { lat, hits } = await timeQueries(a, one);
  await close();
  await vectors.close();
  report({ items: a.queries, ms: round(lat.reduce((x, y) => x + y, 0)), breakdown: summary(lat, { avgHits: hits / a.queries }) });
}

async function timeQueries(a: SearchArgs, one: (q: number) => Promise<number>): Promise<{ lat: number[]; hits: number }> {
  for (let q = 0; q < a.warmup; q++) await one(q);
  const lat: number[] = [];
  let hits = 0;
  for (let q = a.warmup; q < a.warmup + a.queries; q++) {
    const t = now();
    hits += await one(q);
    lat.push(now() - t);
  }
  return { lat, hits };
}

/** PgvectorVectorDb's query text, as a user would write it by hand: one statement per query, settings once per session. */
const SQL = `SELECT id, user_id, document_id, chunk_index, content, metadata, embedding <=> $1::vector AS distance
  FROM vector_embeddings WHERE user_id = $2 ORDER BY embedding <=> $1::vector, id LIMIT $3`;

/** The same SQL through one `pg` Client (and, in knowledge mode, the query embedded by the transformers.js pipeline directly). */
export async function rawSearch(a: SearchArgs): Promise<void> {
  const c = new Client({ connectionString: a.pgUrl });
  await c.connect();
  await c.query('SET hnsw.iterative_scan = strict_order');
  await c.query(`SET hnsw.ef_search = ${Math.max(40, K * 4)}`);
  const vecText = (v: Float32Array | number[]) => `[${Array.from(v).join(',')}]`;
  let embed: (q: number) => Promise<string>;
  if (a.mode === 'knowledge') {
    const extractor = await rawPipeline(a.modelPath!);
    embed = async (q) => {
      const out = await extractor([queryText(q)], { pooling: 'mean', normalize: true });
      const s = vecText(out.data);
      out.dispose?.();
      return s;
    };
  } else {
    const qv = Array.from({ length: a.warmup + a.queries }, (_, q) => vecText(queryVector(q, a.dims)));
    embed = async (q) => qv[q];
  }
  const one = async (q: number) => (await c.query(SQL, [await embed(q), userId(q % a.users), K])).rowCount ?? 0;
  const { lat, hits } = await timeQueries(a, one);
  // The plan both sides get (same SQL, same settings).
  const plan = (await c.query(`EXPLAIN ${SQL}`, [vecText(queryVector(0, a.dims)), userId(0), K])).rows.map((r) => (r['QUERY PLAN'] as string).replace(/'\[[^\]]*\]'/g, "'[...]'"));
  await c.end();
  log(`plan: ${plan.map((l) => l.trim()).join(' | ')}`);
  report({ items: a.queries, ms: round(lat.reduce((x, y) => x + y, 0)), breakdown: summary(lat, { avgHits: hits / a.queries }), plan });
}

