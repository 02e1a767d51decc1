/**
 * vectors: a Chroma collection -> pgvector through MigrationService (kind VECTORS), against
 *  - the seed guide's naive loop (read from Chroma, one INSERT per record through `pg`, HNSW index in place),
 *  - the raw Chroma read rate alone (chromadb client, offset pages, everything included),
 *  - the raw binary COPY rate into pgvector alone (one COPY stream of pre-built rows, index built after).
 */
import type { VectorDbConfig } from '@switchyard/core';
import { ChromaPersistVectorDb, ChromaVectorDb, createVectorDb } from '@switchyard/vector-db';
import { ChromaClient, Collection } from 'chromadb';
import { from as copyFrom } from 'pg-copy-streams';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { busyMs, Intervals, log, now, report, since, timeCalls, withPg } from './common';
import { VectorRow, vectorRow } from './gen';
import { instrumentPgvector, migrate } from './job';

export const MODEL = 'Xenova/all-MiniLM-L6-v2';
const PAGE = 1000;

export interface SeedChromaArgs {
  chromaUrl: string;
  collection: string;
  n: number;
  dims: number;
  users: number;
}

/** The source collection, written by Switchyard's own Chroma driver (a dev deployment on Chroma). */
export async function seedChroma(a: SeedChromaArgs): Promise<void> {
  const t0 = now();
  const db = createVectorDb({ provider: 'chromadb', url: a.chromaUrl, dimensions: a.dims, collection: a.collection }, MODEL);
  await db.init();
  if ((await db.count()) > 0) await db.reset();
  for (let i = 0; i < a.n; i += PAGE) {
    await db.upsert(Array.from({ length: Math.min(PAGE, a.n - i) }, (_, j) => vectorRow(i + j, a.dims, a.users)));
  }
  const n = await db.count();
  await db.close();
  if (n !== a.n) throw new Error(`seeded ${n} records into Chroma, expected ${a.n}`);
  report({ items: n, ms: since(t0) });
}

function chromaClient(url: string): ChromaClient {
  const u = new URL(url);
  return new ChromaClient({ host: u.hostname, port: Number(u.port), ssl: false });
}

/** Every record of a collection through the plain chromadb client, a page at a time (limit/offset). */
async function* chromaPages(coll: Collection, page = PAGE) {
  for (let offset = 0; ; offset += page) {
    const r = await coll.get({ limit: page, offset, include: ['embeddings', 'documents', 'metadatas'] as never });
    if (!r.ids.length) return;
    yield r;
    if (r.ids.length < page) return;
  }
}

export interface VectorsArgs {
  chromaUrl: string;
  collection: string;
  pgUrl: string;
  dims: number;
  dataDir: string;
  batchSize?: number;
  /** Read the collection from this Chroma persist directory instead of the server (VECTOR_DB_CHROMA_PERSIST_DIR). */
  persistDir?: string;
}

/** MigrationService VECTORS from Chroma into pgvector (timed: open target + job, incl. HNSW build and verification). */
export async function switchyardVectors(a: VectorsArgs): Promise<void> {
  // Instrumentation only: when the Chroma source reads a page, when the target writes one, the index build.
  const reads: Intervals = [];
  timeCalls((a.persistDir ? ChromaPersistVectorDb : ChromaVectorDb).prototype, 'doPage', reads);
  const { writes, index } = instrumentPgvector();

  const source: VectorDbConfig = { provider: 'chromadb', url: a.chromaUrl, dimensions: a.dims, collection: a.collection, ...(a.persistDir ? { persistDir: a.persistDir } : {}) };
  const r = await migrate({ pgUrl: a.pgUrl, vector: { dims: a.dims, model: MODEL }, source: { vector: source }, dataDir: a.dataDir, input: { kind: 'VECTORS', source: 'source', onConflict: 'FAIL', batchSize: a.batchSize } });
  const { ms, written } = r;
  const { start, verify, end } = r.marks;
  const indexMs = busyMs(index, start, verify);
  log(`vectors: ${written} records in ${ms} ms (index ${indexMs} ms, verification ${r.job.verification?.ok ? 'ok' : 'FAILED'}, recall@10 ${r.job.verification?.recallAt10})`);
  report({
    items: written,
    ms,
    breakdown: {
      openTargetMs: r.openMs,
      ...r.phases,
      indexMs,
      copyNoIndexMs: Math.round(r.phases.copyMs - indexMs),
      readBusyMs: busyMs(reads, start, verify),
      writeBusyMs: busyMs(writes, start, verify),
      verifyReadBusyMs: busyMs(reads, verify, end),
    },
    recallAt10: r.job.verification?.recallAt10 ?? null,
  });
}

export interface NaiveArgs {
  chromaUrl: string;
  collection: string;
  pgUrl: string;
  dims: number;
}

/**
 * The seed guide's "Option B": the table and HNSW index created as the guide shows, then one INSERT per
 * record through `pg`. Two deviations, both in the loop's favour or neutral: records are read in pages of
 * 1000 (the guide's single get() of the whole collection holds it all in memory), and the embedding is sent
 * as pgvector text ('[...]', the guide's plain JS array is serialised by pg as '{...}', which pgvector rejects).
 */
export async function naiveLoop(a: NaiveArgs): Promise<void> {
  const t0 = now();
  const coll = await chromaClient(a.chromaUrl).getCollection({ name: a.collection, embeddingFunction: null as never });
  let n = 0;
  let readMs = 0;
  await withPg(a.pgUrl, async (db) => {
    await db.query(`CREATE TABLE vector_embeddings (
      id VARCHAR(255) PRIMARY KEY, user_id VARCHAR(255) NOT NULL, document_id VARCHAR(255) NOT NULL,
      embedding vector(${a.dims}) NOT NULL, content TEXT NOT NULL, created_at TIMESTAMP DEFAULT NOW())`);
    await db.query('CREATE INDEX idx_embedding_hnsw ON vector_embeddings USING hnsw (embedding vector_cosine_ops)');
    let tr = now();
    for await (const page of chromaPages(coll)) {
      readMs += now() - tr;
      for (let i = 0; i < page.ids.length; i++) {
        const m = page.metadatas[i] as Record<string, unknown>;
        await db.query(
          `INSERT INTO vector_embeddings (id, user_id, document_id, embedding, content)
           VALUES ($1, $2, $3, $4, $5)`,
          [page.ids[i], m.userId, m.documentId, JSON.stringify(Array.from(page.embeddings![i] as number[])), page.documents[i]],
        );
        n++;
      }
      if (n % 10_000 < PAGE) log(`naive: ${n} inserted`);
      tr = now();
    }
  });
  report({ items: n, ms: since(t0), breakdown: { readMs: Math.round(readMs) } });
}

export interface RawReadArgs {
  chromaUrl: string;
  collection: string;
}

/** Chroma alone: every record with embedding, document and metadata through the chromadb client, nothing else. */
export async function rawChromaRead(a: RawReadArgs): Promise<void> {
  const t0 = now();
  const coll = await chromaClient(a.chromaUrl).getCollection({ name: a.collection, embeddingFunction: null as never });
  let n = 0;
  for await (const page of chromaPages(coll)) n += page.ids.length;
  report({ items: n, ms: since(t0) });
}

export interface PersistReadArgs {
  chromaUrl: string;
  collection: string;
  persistDir: string;
  dims: number;
}

/** The persist-directory reader alone: every record of the collection through ChromaPersistVectorDb.scan, nothing else. */
export async function rawPersistRead(a: PersistReadArgs): Promise<void> {
  const t0 = now();
  const db = createVectorDb({ provider: 'chromadb', url: a.chromaUrl, dimensions: a.dims, collection: a.collection, persistDir: a.persistDir }, null);
  await db.init({ createIfMissing: false });
  let n = 0;
  for await (const page of db.scan(PAGE)) n += page.length;
  await db.close();
  report({ items: n, ms: since(t0) });
}

const COPY_HEADER = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
const COPY_TRAILER = Buffer.from([0xff, 0xff]);

/** One binary COPY tuple of (id, user_id, document_id, chunk_index, embedding, content, metadata) into one preallocated buffer. */
function tuple(r: VectorRow): Buffer {
  const id = Buffer.from(r.id);
  const user = Buffer.from(r.userId);
  const doc = Buffer.from(r.documentId);
  const content = Buffer.from(r.content);
  const meta = Buffer.from(JSON.stringify(r.metadata));
  const d = r.embedding.length;
  const size = 2 + (4 + id.length) + (4 + user.length) + (4 + doc.length) + 8 + (4 + 4 + 4 * d) + (4 + content.length) + (4 + 1 + meta.length);
  const b = Buffer.allocUnsafe(size);
  let o = b.writeInt16BE(7, 0);
  for (const f of [id, user, doc]) {
    o = b.writeInt32BE(f.length, o);
    o += f.copy(b, o);
  }
  o = b.writeInt32BE(4, o);
  o = b.writeInt32BE(r.chunkIndex, o);
  o = b.writeInt32BE(4 + 4 * d, o);
  o = b.writeInt16BE(d, o);
  o = b.writeInt16BE(0, o);
  for (let i = 0; i < d; i++) o = b.writeFloatBE(r.embedding[i], o);
  o = b.writeInt32BE(content.length, o);
  o += content.copy(b, o);
  o = b.writeInt32BE(1 + meta.length, o);
  o = b.writeUInt8(1, o);
  meta.copy(b, o);
  return b;
}

export interface RawCopyArgs {
  pgUrl: string;
  n: number;
  dims: number;
  users: number;
}

/**
 * pgvector alone: the same records (regenerated, untimed, held in memory) streamed with one binary COPY
 * into a table of Switchyard's shape without the HNSW index; then the index is built (timed separately).
 */
export async function rawCopy(a: RawCopyArgs): Promise<void> {
  const rows = Array.from({ length: a.n }, (_, i) => vectorRow(i, a.dims, a.users));
  await withPg(a.pgUrl, async (db) => {
    await db.query(`CREATE TABLE vector_embeddings (
      id varchar(255) COLLATE "C" PRIMARY KEY, user_id varchar(255) NOT NULL, document_id varchar(255) NOT NULL,
      chunk_index integer NOT NULL DEFAULT 0, embedding vector(${a.dims}) NOT NULL, content text NOT NULL,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb, created_at timestamp DEFAULT now())`);
    await db.query('CREATE INDEX vector_embeddings_user_doc ON vector_embeddings (user_id, document_id)');
    const t0 = now();
    function* body() {
      yield COPY_HEADER;
      for (const r of rows) yield tuple(r);
      yield COPY_TRAILER;
    }
    await pipeline(Readable.from(body()), db.query(copyFrom('COPY vector_embeddings (id, user_id, document_id, chunk_index, embedding, content, metadata) FROM STDIN WITH (FORMAT binary)')));
    const copyMs = since(t0);
    const t1 = now();
    await db.query('CREATE INDEX vector_embeddings_embedding_hnsw ON vector_embeddings USING hnsw (embedding vector_cosine_ops)');
    const indexMs = since(t1);
    const { rows: c } = await db.query('SELECT count(*)::int AS n FROM vector_embeddings');
    if (c[0].n !== a.n) throw new Error(`COPY stored ${c[0].n} rows, expected ${a.n}`);
    report({ items: a.n, ms: copyMs, breakdown: { copyMs, indexMs } });
  });
}
