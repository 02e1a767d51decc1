/**
 * vectors, against what a TypeScript user would write instead of Switchyard: LangChain.js
 * (@langchain/community) reading the Chroma collection through its Chroma store's collection and writing
 * it with PGVectorStore.addVectors, the vectors as they are (no re-embedding), then its HNSW index.
 * Afterwards, what arrived is compared with the source: row count, ids, metadata, exact float32 values.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { log, now, report, since, withPg } from './common';

/**
 * LangChain comes from bench/langchain (its own package.json and lockfile, installed with
 * --legacy-peer-deps by bench/lib/langchain.js): @langchain/community's optional peers conflict with
 * Switchyard's dependencies, so it is not one of them.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function langchain(): { Chroma: any; PGVectorStore: any; Document: any; FakeEmbeddings: any } {
  const req = createRequire(path.join(process.env.BENCH_LANGCHAIN_DIR ?? path.resolve(__dirname, '../../../langchain'), 'package.json'));
  return {
    Chroma: req('@langchain/community/vectorstores/chroma').Chroma,
    PGVectorStore: req('@langchain/community/vectorstores/pgvector').PGVectorStore,
    Document: req('@langchain/core/documents').Document,
    FakeEmbeddings: req('@langchain/core/utils/testing').FakeEmbeddings,
  };
}

const PAGE = 1000;
const TABLE = 'langchain_vectors';

export interface LangchainArgs {
  chromaUrl: string;
  collection: string;
  pgUrl: string;
  dims: number;
}

type Page = { ids: string[]; embeddings: number[][]; documents: (string | null)[]; metadatas: (Record<string, unknown> | null)[] };

export async function langchainCopy(a: LangchainArgs): Promise<void> {
  const { Chroma, PGVectorStore, Document, FakeEmbeddings } = langchain();
  // Never asked to embed: the vectors are passed as they are.
  const embeddings = new FakeEmbeddings();
  const t0 = now();
  const source = new Chroma(embeddings, { collectionName: a.collection, url: a.chromaUrl });
  const coll = await source.ensureCollection();
  const target = await PGVectorStore.initialize(embeddings, {
    postgresConnectionOptions: { connectionString: a.pgUrl },
    tableName: TABLE,
    dimensions: a.dims,
    distanceStrategy: 'cosine',
  });
  const read = (offset: number) => coll.get({ limit: PAGE, offset, include: ['embeddings', 'documents', 'metadatas'] as never }) as unknown as Promise<Page>;
  // The source's ids: PGVectorStore's id column is a uuid, so Switchyard's chunk ids are refused (tried on
  // one record, below); the copy goes on without them, as a user would have to.
  let idsRefused: string | null = null;
  let n = 0;
  let readMs = 0;
  let writeMs = 0;
  const sample: Page = { ids: [], embeddings: [], documents: [], metadatas: [] };
  for (let offset = 0; ; offset += PAGE) {
    const tr = now();
    const page = await read(offset);
    readMs += since(tr);
    if (!page.ids.length) break;
    const docs = page.ids.map((id, i) => new Document({ pageContent: page.documents[i] ?? '', metadata: { ...(page.metadatas[i] ?? {}), sourceId: id } }));
    if (offset === 0) {
      idsRefused = await target
        .addVectors([page.embeddings[0]], [docs[0]], { ids: [page.ids[0]] })
        .then(() => null)
        .catch((e: Error) => e.message);
      for (let i = 0; i < 100 && i < page.ids.length; i++) {
        sample.ids.push(page.ids[i]);
        sample.embeddings.push(page.embeddings[i]);
        sample.documents.push(page.documents[i]);
        sample.metadatas.push(page.metadatas[i]);
      }
    }
    const tw = now();
    await target.addVectors(page.embeddings, docs);
    writeMs += since(tw);
    n += page.ids.length;
    if (page.ids.length < PAGE) break;
  }
  const ti = now();
  await target.createHnswIndex({ dimensions: a.dims, namespace: 'bench' });
  const indexMs = since(ti);
  const ms = since(t0);
  await target.end();

  // What arrived, against the source records sampled on the way.
  const kept = await withPg(a.pgUrl, async (c) => {
    const { rows: count } = await c.query(`SELECT count(*)::int AS n FROM ${TABLE}`);
    const { rows } = await c.query(`SELECT id::text AS id, text AS content, metadata, embedding::text AS v FROM ${TABLE} WHERE metadata->>'sourceId' = ANY($1)`, [sample.ids]);
    const byId = new Map(rows.map((r) => [r.metadata.sourceId as string, r]));
    let sameId = 0;
    let sameContent = 0;
    let sameMetadata = 0;
    let exactFloats = 0;
    for (const [i, id] of sample.ids.entries()) {
      const r = byId.get(id);
      if (!r) continue;
      if (r.id === id) sameId++;
      if (r.content === sample.documents[i]) sameContent++;
      const { sourceId: _, ...meta } = r.metadata as Record<string, unknown>;
      if (JSON.stringify(meta) === JSON.stringify(sortKeys(sample.metadatas[i] ?? {}))) sameMetadata++;
      const back = Float32Array.from((r.v as string).slice(1, -1).split(',').map(Number));
      const want = Float32Array.from(sample.embeddings[i]);
      if (back.length === want.length && back.every((x, j) => Object.is(x, want[j]))) exactFloats++;
    }
    return { rows: count[0].n as number, sampled: sample.ids.length, sameId, sameContent, sameMetadata, exactFloats };
  });
  log(`langchain: ${n} records in ${ms} ms (read ${Math.round(readMs)}, addVectors ${Math.round(writeMs)}, HNSW ${indexMs}); ${JSON.stringify(kept)}; ids: ${idsRefused ?? 'accepted'}`);
  report({ items: n, ms, breakdown: { readMs: Math.round(readMs), writeMs: Math.round(writeMs), indexMs, ...kept, extraRows: kept.rows - n }, idsRefused });
}

/** jsonb gives keys back sorted by length, then bytes: the source's metadata in that order, to compare. */
function sortKeys(m: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).sort(([x], [y]) => x.length - y.length || (x < y ? -1 : x > y ? 1 : 0)));
}
