/**
 * search: user-scoped top-10 on pgvector with an HNSW index, Switchyard (VectorDb.query, and
 * KnowledgeService.search which embeds the query first) against the same SQL sent by hand through `pg`.
 */
import { KnowledgeService } from '@switchyard/knowledge';
import { createRelationalDb, DocumentsRepository } from '@switchyard/relational-db';
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
  /** Clients querying at once (each one query at a time), default 1. */
  concurrency?: number;
  /** hnsw.ef_search on both sides (Switchyard's VECTOR_DB_HNSW_EF_SEARCH default). */
  efSearch: number;
  /** Queries whose results are compared with an exact scan (recall@10), from the first timed one. */
  recallQueries?: number;
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
  const vectors = createVectorDb({ provider: 'pgvector', connection: toConnection(a.pgUrl), dimensions: a.dims, collection: 'vector_embeddings', efSearch: a.efSearch }, null);
  await vectors.init();
  let one: (q: number) => Promise<number>;
  let close = async () => undefined as unknown;
  if (a.mode === 'knowledge') {
    const embeddings = localEmbeddings(a.modelPath!);
    await embeddings.init();
    if (embeddings.dimensions !== a.dims) throw new Error(`model has ${embeddings.dimensions} dims, data ${a.dims}`);
    const options = { chunkSize: 1000, chunkOverlap: 200, maxDocumentBytes: 1 << 20, maxSearchLimit: 50, minScore: 0, answerContextChunks: 5 };
    // search() uses the vector store, the embeddings and the active embedding generation (read from the
    // relational database and polled, as in the app); the other repositories and the LLM are not touched.
    const relational = createRelationalDb({ provider: 'postgres', logging: false, ...toConnection(a.pgUrl) });
    await relational.init();
    const knowledge = new KnowledgeService(new DocumentsRepository(relational), null as never, vectors, embeddings, null as never, options, null as never);
    await knowledge.onModuleInit();
    one = async (q) => (await knowledge.search(userId(q % a.users), queryText(q), K)).length;
    close = async () => {
      await knowledge.onModuleDestroy();
      await relational.close();
      await embeddings.close();
    };
  } else {
    const qv = Array.from({ length: a.warmup + a.queries }, (_, q) => queryVector(q, a.dims));
    one = async (q) => (await vectors.query(qv[q], { userId: userId(q % a.users), k: K })).length;
  }
  const { lat, hits, wallMs } = await timeQueries(a, one);
  let recallAt10: number | null = null;
  if (a.recallQueries && a.mode === 'vector') {
    let found = 0;
    let wanted = 0;
    await withPg(a.pgUrl, async (c) => {
      for (let q = a.warmup; q < a.warmup + a.recallQueries!; q++) {
        const v = queryVector(q, a.dims);
        const got = new Set((await vectors.query(v, { userId: userId(q % a.users), k: K })).map((m) => m.id));
        const exact = await exactTop(c, v, userId(q % a.users));
        wanted += exact.length;
        found += exact.filter((id) => got.has(id)).length;
      }
    });
    recallAt10 = wanted ? found / wanted : null;
    log(`recall@10 vs an exact scan over ${a.recallQueries} queries: ${recallAt10}`);
  }
  await close();
  await vectors.close();
  report({ items: a.queries, ms: round(wallMs), breakdown: summary(lat, { avgHits: hits / a.queries, qps: round((a.queries * 1000) / wallMs), recallAt10: recallAt10 ?? -1 }) });
}

/** The exact top-10 of one user (a sequential scan of their rows, no index). */
async function exactTop(c: Client, v: Float32Array, user: string): Promise<string[]> {
  await c.query('BEGIN');
  try {
    await c.query('SET LOCAL enable_indexscan = off');
    await c.query('SET LOCAL enable_bitmapscan = off');
    const r = await c.query(`SELECT id FROM vector_embeddings WHERE user_id = $2 ORDER BY embedding <=> $1::vector, id LIMIT $3`, [`[${Array.from(v).join(',')}]`, user, K]);
    return r.rows.map((x) => x.id as string);
  } finally {
    await c.query('COMMIT');
  }
}

/** Warm-up, then the timed queries: `concurrency` clients, each sending its next query when the last one answered. */
async function timeQueries(a: SearchArgs, one: (q: number) => Promise<number>): Promise<{ lat: number[]; hits: number; wallMs: number }> {
  for (let q = 0; q < a.warmup; q++) await one(q);
  const lat: number[] = [];
  let hits = 0;
  let next = a.warmup;
  const t0 = now();
  const client = async () => {
    while (next < a.warmup + a.queries) {
      const q = next++;
      const t = now();
      const found = await one(q); // (not `hits += await`: that reads hits before the await and loses the others' updates)
      lat.push(now() - t);
      hits += found;
    }
  };
  await Promise.all(Array.from({ length: a.concurrency ?? 1 }, client));
  return { lat, hits, wallMs: now() - t0 };
}

/** PgvectorVectorDb's query text, as a user would write it by hand: one statement per query, settings once per session. */
const SQL = `SELECT id, user_id, document_id, chunk_index, content, metadata, embedding <=> $1::vector AS distance
  FROM vector_embeddings WHERE user_id = $2 ORDER BY embedding <=> $1::vector, id LIMIT $3`;

/**
 * The same SQL through `pg`: one Client per concurrent client, settings once per session (and, in knowledge
 * mode, the query embedded by the transformers.js pipeline directly).
 */
export async function rawSearch(a: SearchArgs): Promise<void> {
  const clients = await Promise.all(
    Array.from({ length: a.concurrency ?? 1 }, async () => {
      const c = new Client({ connectionString: a.pgUrl });
      await c.connect();
      await c.query('SET hnsw.iterative_scan = strict_order');
      await c.query(`SET hnsw.ef_search = ${a.efSearch}`);
      return c;
    }),
  );
  const idle = [...clients];
  const c = clients[0];
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
  const one = async (q: number) => {
    const mine = idle.pop()!; // one per concurrent client: never empty
    try {
      return (await mine.query(SQL, [await embed(q), userId(q % a.users), K])).rowCount ?? 0;
    } finally {
      idle.push(mine);
    }
  };
  const { lat, hits, wallMs } = await timeQueries(a, one);
  // The plan both sides get (same SQL, same settings).
  const plan = (await c.query(`EXPLAIN ${SQL}`, [vecText(queryVector(0, a.dims)), userId(0), K])).rows.map((r) => (r['QUERY PLAN'] as string).replace(/'\[[^\]]*\]'/g, "'[...]'"));
  let recallAt10 = -1;
  if (a.recallQueries && a.mode === 'vector') {
    let found = 0;
    let wanted = 0;
    for (let q = a.warmup; q < a.warmup + a.recallQueries; q++) {
      const v = queryVector(q, a.dims);
      const got = new Set((await c.query(SQL, [vecText(v), userId(q % a.users), K])).rows.map((r) => r.id as string));
      const exact = await exactTop(c, v, userId(q % a.users));
      wanted += exact.length;
      found += exact.filter((id) => got.has(id)).length;
    }
    recallAt10 = wanted ? found / wanted : -1;
  }
  await Promise.all(clients.map((x) => x.end()));
  log(`plan: ${plan.map((l) => l.trim()).join(' | ')}`);
  report({ items: a.queries, ms: round(wallMs), breakdown: summary(lat, { avgHits: hits / a.queries, qps: round((a.queries * 1000) / wallMs), recallAt10 }), plan });
}

