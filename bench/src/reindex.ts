/**
 * reindex: every document in the target re-chunked and re-embedded with the generated test model through
 * MigrationService (kind REINDEX) into pgvector, against the raw batched throughput of the same model
 * (transformers.js feature-extraction pipeline, same batch size) in a process doing nothing else.
 */
import { createChunker } from '@switchyard/knowledge';
import { createRelationalDb, DocumentEntity, DocumentsRepository, UserEntity } from '@switchyard/relational-db';
import { busyMs, Intervals, localEmbeddings, log, now, rawPipeline, report, since, timeCalls, toConnection } from './common';
import { logNormal, rngFor, text, userId, uuidFor } from './gen';
import { instrumentPgvector, migrate } from './job';

const CHUNK = { chunkSize: 1000, chunkOverlap: 200 };

export interface SeedDocumentsArgs {
  pgUrl: string;
  /** Documents are added until they make this many chunks. */
  chunks: number;
  users: number;
}

/** Documents (median ~2.5 KB, a few up to 20 KB) in the target's relational DB, until they make `chunks` chunks. */
export async function seedDocuments(a: SeedDocumentsArgs): Promise<void> {
  const t0 = now();
  const db = createRelationalDb({ provider: 'postgres', logging: false, ...toConnection(a.pgUrl) });
  await db.init();
  const chunk = createChunker(CHUNK);
  const docs: DocumentEntity[] = [];
  let chunks = 0;
  for (let i = 0; chunks < a.chunks; i++) {
    const rng = rngFor('rdoc', i);
    const content = text(rng, logNormal(rng, 2500, 0.6, 200, 20_000));
    chunks += (await chunk(content)).length;
    docs.push(Object.assign(new DocumentEntity(), { id: uuidFor('rdoc', i), userId: userId(i % a.users), externalId: `doc-${i}`, title: `Document ${i}`, content, contentBytes: Buffer.byteLength(content), chunkCount: 0, metadata: null, embeddingModel: null, indexedAt: null, createdAt: new Date(Date.UTC(2024, 0, 1) + i * 1000), updatedAt: new Date(Date.UTC(2024, 0, 2) + i * 1000) }));
  }
  const users = Array.from({ length: Math.min(a.users, docs.length) }, (_, i) => Object.assign(new UserEntity(), { id: userId(i), email: null, displayName: null, roles: null, active: true, createdAt: new Date(Date.UTC(2024, 0, 1)), updatedAt: new Date(Date.UTC(2024, 0, 1)) }));
  await db.insertRows(UserEntity, users, 'error');
  for (let i = 0; i < docs.length; i += 2000) await db.insertRows(DocumentEntity, docs.slice(i, i + 2000), 'error');
  await db.close();
  report({ items: chunks, ms: since(t0), breakdown: { documents: docs.length } });
}

export interface ReindexArgs {
  pgUrl: string;
  modelPath: string;
  dataDir: string;
  batchSize?: number;
  embeddingsBatch: number;
  /** A second re-index of the same, unchanged corpus (onConflict OVERWRITE, incremental): what it embeds, writes and costs. */
  again?: boolean;
}

/** MigrationService REINDEX (timed: the job; the model is loaded before, as in a running app). */
export async function switchyardReindex(a: ReindexArgs): Promise<void> {
  const embeds: Intervals = [];
  const { writes, index } = instrumentPgvector();
  const embeddings = localEmbeddings(a.modelPath, a.embeddingsBatch);
  await embeddings.init();
  timeCalls(embeddings, 'embed', embeds);
  const records: Intervals = [];
  timeCalls(DocumentsRepository.prototype, 'withDocumentWrites', records);
  const r = await migrate({ pgUrl: a.pgUrl, vector: { dims: embeddings.dimensions, model: embeddings.model }, embeddings, chunk: createChunker(CHUNK), dataDir: a.dataDir, input: { kind: 'REINDEX', onConflict: a.again ? 'OVERWRITE' : 'FAIL', batchSize: a.batchSize } });
  await embeddings.close();
  // The job alone (the model is loaded before, as in a running app).
  const ms = r.phases.jobMs;
  const chunks = r.written;
  const step = r.job.progress!.steps[0];
  const stored = r.job.verification!.tables[0].targetCount;
  const { start, verify, end } = r.marks;
  const indexMs = busyMs(index, start, verify);
  log(`reindex${a.again ? ' (again)' : ''}: ${chunks} chunks written of ${stored} in ${ms} ms (${step.unchanged ?? 0} documents unchanged; embed busy ${busyMs(embeds, start, verify)} ms, index ${indexMs} ms, recall@10 ${r.job.verification?.recallAt10})`);
  report({
    items: a.again ? stored : chunks,
    ms,
    breakdown: {
      ...r.phases,
      indexMs,
      copyNoIndexMs: Math.round(r.phases.copyMs - indexMs),
      embedBusyMs: busyMs(embeds, start, verify),
      writeBusyMs: busyMs(writes, start, verify),
      recordBusyMs: busyMs(records, start, verify),
      verifyEmbedBusyMs: busyMs(embeds, verify, end),
      written: chunks,
      unchangedDocuments: step.unchanged ?? 0,
      documents: step.read,
      backups: r.job.backups.length,
    },
    dims: embeddings.dimensions,
    recallAt10: r.job.verification?.recallAt10 ?? null,
  });
}

/**
 * The model alone: the same chunks (read and chunked untimed) embedded by the transformers.js pipeline in
 * batches of `embeddingsBatch`, nothing else running. Then the same through Switchyard's driver (embed()).
 */
export async function rawEmbed(a: ReindexArgs): Promise<void> {
  const db = createRelationalDb({ provider: 'postgres', logging: false, ...toConnection(a.pgUrl) });
  await db.init();
  const chunk = createChunker(CHUNK);
  const texts: string[] = [];
  for await (const docs of db.pages(DocumentEntity, 1000)) for (const d of docs) texts.push(...(await chunk(d.content)));
  await db.close();

  const extractor = await rawPipeline(a.modelPath);
  await extractor(['warm up'], { pooling: 'mean', normalize: true });
  const t0 = now();
  let dims = 0;
  for (let i = 0; i < texts.length; i += a.embeddingsBatch) {
    const out = await extractor(texts.slice(i, i + a.embeddingsBatch), { pooling: 'mean', normalize: true });
    dims = out.dims[1];
    out.dispose?.();
  }
  const ms = since(t0);

  const embeddings = localEmbeddings(a.modelPath, a.embeddingsBatch);
  await embeddings.init();
  const t1 = now();
  await embeddings.embed(texts);
  const driverMs = since(t1);
  await embeddings.close();
  log(`raw embedding: ${texts.length} chunks in ${ms} ms (driver embed(): ${driverMs} ms)`);
  report({ items: texts.length, ms, breakdown: { driverEmbedMs: driverMs }, dims });
}
