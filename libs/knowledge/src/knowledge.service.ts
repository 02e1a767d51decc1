import { Inject, Injectable, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import { BadInputError, SwitchyardError, timed, userIdProblem } from '@switchyard/core';
import { EmbeddingModels, Embeddings } from '@switchyard/embeddings';
import { Llm } from '@switchyard/llm';
import { DocumentEntity, DocumentsRepository, DocumentWrite, relationalUnavailable, UsersRepository, VectorFreezeRepository } from '@switchyard/relational-db';
import { VectorDb, VectorRecord } from '@switchyard/vector-db';
import { createHash, randomUUID } from 'node:crypto';
import { createChunker } from './chunking';
import { ModelGenerations, Served } from './generations';
import { documentProblem } from './document-rules';
import { storedAsWritten } from './stored-chunks';
import { IndexResult, KnowledgeAnswer, KnowledgeHit, KnowledgeOptions, NO_CONTEXT_ANSWER } from './knowledge.types';

export const KNOWLEDGE_OPTIONS = Symbol('KNOWLEDGE_OPTIONS');

/** Vector record id of a chunk: stable per (user, document, chunk) and never shared between users. */
export function chunkId(userId: string, documentId: string, index: number): string {
  const key = createHash('sha256').update(userId).update('\0').update(documentId).digest('hex').slice(0, 32);
  return `${key}:${index}`;
}

/** Index, search and answer over a user's documents, on whatever providers are configured. */
@Injectable()
export class KnowledgeService implements OnModuleInit, OnModuleDestroy {
  private readonly chunk: (text: string) => Promise<string[]>;
  private store$: Promise<string> | null = null;
  private readonly generations: ModelGenerations;

  constructor(
    private readonly documents: DocumentsRepository,
    private readonly users: UsersRepository,
    private readonly vectors: VectorDb,
    private readonly embeddings: Embeddings,
    private readonly llm: Llm,
    @Inject(KNOWLEDGE_OPTIONS) private readonly options: KnowledgeOptions,
    private readonly freeze: VectorFreezeRepository,
    /** Default: the generations of these documents' database, over this store and this model only. */
    @Optional() generations?: ModelGenerations,
  ) {
    this.chunk = createChunker(options);
    this.generations = generations ?? new ModelGenerations(documents.relational, vectors, new EmbeddingModels(embeddings), options.generationPollMs);
  }

  /**
   * At start: the model's real output (probed when it loaded) must fit the vector store's configured
   * dimensions, or every first write would fail. Stops the app with the fix.
   */
  async onModuleInit(): Promise<void> {
    await this.generations.start();
    if (await this.generations.switching()) return; // each generation was checked against its own model
    const made = this.embeddings.dimensions;
    if (made === this.vectors.dimensions) return;
    throw new SwitchyardError(
      'DIMENSION_MISMATCH',
      `the embedding model "${this.embeddings.model}" makes ${made}-dimensional vectors, but the ${this.vectors.provider} store is configured for ${this.vectors.dimensions} (VECTOR_DB_DIMENSIONS). Set VECTOR_DB_DIMENSIONS=${made} and start again; if the store already holds ${this.vectors.dimensions}-dimensional vectors, re-index it afterwards (startMigration(input: { kind: REINDEX, onConflict: TRUNCATE })).`,
      { model: this.embeddings.model, modelDimensions: made, configured: this.vectors.dimensions },
    );
  }

  async onModuleDestroy(): Promise<void> {
    await this.generations.close();
  }

  /**
   * Stores the document and replaces its chunks. Embedding happens before anything is written, and the
   * old chunks are only removed after the new ones are stored, so a failure leaves the old version
   * searchable. Writes of one document (index, re-index, delete; from any instance) take turns under the
   * document's lock, so the document always ends as exactly one version: its row and its chunks agree.
   * On PostgreSQL + pgvector in the same database the row and the chunks change in one transaction: a
   * failure at any point (or the death of the process) leaves the previous version whole.
   */
  indexDocument(userId: string, input: { documentId?: string | null; content: string; title?: string | null; metadata?: Record<string, unknown> | null }): Promise<IndexResult> {
    return timed(domainErrors(() => this.index(userId, input)), (seconds, error) => ({ kind: 'knowledge', op: 'index', seconds, error }));
  }

  private async index(userId: string, input: { documentId?: string | null; content: string; title?: string | null; metadata?: Record<string, unknown> | null }): Promise<IndexResult> {
    const documentId = input.documentId ?? randomUUID();
    const problem = documentProblem({ documentId, content: input.content, title: input.title, metadata: input.metadata }, this.options.maxDocumentBytes);
    const user = userIdProblem(userId);
    if (user) throw new BadInputError('userId', user);
    if (problem) throw new BadInputError(problem.field, problem.message);

    const chunks = await this.chunk(input.content);
    const targets = await this.generations.cachedTargets();
    const kept = await this.unchanged(userId, documentId, input, chunks, targets);
    if (kept) return { document: kept, chunks: chunks.length, unchanged: true };
    const embedded = await this.embedFor(targets, chunks, new Map());
    return this.documents.withDocumentWrite(userId, documentId, (write) => this.store(write, userId, documentId, input, chunks, embedded));
  }

  /**
   * The stored document, when writing `input` again would change nothing: the same text, title and
   * metadata, embedded with the active model, and its chunks in every generation exactly as they would be written
   * (re-sending an unchanged corpus embeds nothing). Null otherwise, also when a write that failed
   * half-way left other chunks there.
   */
  private async unchanged(userId: string, documentId: string, input: { content: string; title?: string | null; metadata?: Record<string, unknown> | null }, chunks: string[], targets: Served[]): Promise<DocumentEntity | null> {
    const found = await this.documents.findOne(userId, documentId);
    if (!found || found.content !== input.content || (found.title ?? null) !== (input.title ?? null) || found.embeddingModel !== targets[0].embeddings.model) return null;
    if (found.chunkCount !== chunks.length || JSON.stringify(canonical(found.metadata ?? null)) !== JSON.stringify(canonical(input.metadata ?? null))) return null;
    const records = chunks.map((content, i): VectorRecord => ({ id: chunkId(userId, documentId, i), userId, documentId, chunkIndex: i, content, embedding: new Float32Array(0), metadata: { title: input.title ?? null } }));
    for (const t of targets) if (!(await storedAsWritten(t.vectors, [records], t.generation.dimensions))[0]) return null;
    return found;
  }

  /**
   * Refuses the write (MAINTENANCE) when a live VECTORS migration froze this app's vector store. Called
   * after the write's first change of the document row (which a live migration's change capture records)
   * and before any chunk is written: a write that passes this check is in the capture's log, so the
   * migration's last delta waits for it (under the document's lock) and copies what it wrote.
   */
  private async assertVectorsWritable(freezes: VectorFreezeRepository): Promise<void> {
    this.store$ ??= this.vectors.identity().catch((e) => {
      this.store$ = null;
      throw e;
    });
    await freezes.assertWritable(await this.store$);
  }

  /**
   * Where this write's statements go. A vector store that can join the write's transaction (pgvector in
   * the same database): everything in that transaction (atomic). One that cannot: the row's statements
   * commit one by one, as the chunks do, so the chunk count raised before the chunks are written stays
   * raised if the write fails after them (the next write cleans up to it).
   */
  private async scopeOf(write: DocumentWrite, targets: Served[]): Promise<{ stores: VectorDb[]; documents: DocumentsRepository; users: UsersRepository; atomic: boolean }> {
    const joined = await Promise.all(targets.map(async (t) => (write.session && (await t.vectors.within(write.session))) || null));
    if (joined.every((j) => j !== null)) return { stores: joined as VectorDb[], documents: write.documents, users: write.users, atomic: true };
    return { stores: targets.map((t) => t.vectors), documents: this.documents, users: this.users, atomic: false };
  }

  /**
   * The writing part of indexDocument, under the document's lock. The row changes first (a new
   * document's row is created before its chunks, so a chunk never exists without its document), the
   * chunks follow (in every live embedding generation, read again now: a generation a model switch began
   * meanwhile is written too), the new text and the indexing are recorded last.
   */
  private async store(
    write: DocumentWrite,
    userId: string,
    documentId: string,
    input: { content: string; title?: string | null; metadata?: Record<string, unknown> | null },
    chunks: string[],
    embedded: Map<string, Float32Array[]>,
  ): Promise<IndexResult> {
    const freezes = write.freezes;
    await this.assertVectorsWritable(freezes); // refused before it changes anything (nothing for a capture to record)
    const targets = await this.generations.writeTargets();
    await this.embedFor(targets, chunks, embedded); // a generation that began since: embedded now, under the lock
    const { stores, documents, users, atomic } = await this.scopeOf(write, targets);
    const found = await documents.findOne(userId, documentId);
    const fields = { userId, externalId: documentId, title: input.title ?? null, content: input.content, metadata: input.metadata ?? null };
    let created: DocumentEntity | null = null;
    if (!found) {
      await users.ensure(userId);
      created = await documents.save(fields);
    } else await documents.beginWrite(found.id, 0); // the version only: a capture records the write
    try {
      await this.assertVectorsWritable(freezes); // again, now that the write is recorded (see assertVectorsWritable)
      // Chunks a write that died half-way left behind: beyond the recorded count (raised before writing,
      // with the version). The count is read again after the raise: a re-index job may have recorded more.
      await documents.beginWrite((found ?? created)!.id, chunks.length);
      const previous = found && (await documents.findOne(userId, documentId));
      const previousChunks = previous?.chunkCount ?? 0;
      const staleIds = Array.from({ length: Math.max(0, previousChunks - chunks.length) }, (_, j) => chunkId(userId, documentId, chunks.length + j));
      for (const [g, vectors] of stores.entries()) {
        if (created) await vectors.deleteByDocument(userId, documentId); // left by a write before this version
        const vectorsOf = embedded.get(targets[g].embeddings.model)!;
        await vectors.upsert(chunks.map((content, i) => ({ id: chunkId(userId, documentId, i), userId, documentId, chunkIndex: i, content, embedding: vectorsOf[i], metadata: { title: input.title ?? null } })));
        await vectors.deleteIds(staleIds);
      }

      await users.ensure(userId);
      const document = await documents.save(fields);
      await documents.markIndexed(document.id, chunks.length, targets[0].embeddings.model);
    } catch (e) {
      // In one transaction (atomic) the rollback takes everything back. Otherwise a new document whose
      // write failed is not left half there: its row goes again (and any chunk already stored). An
      // existing one keeps its old text; its chunks are the old ones, or (when the failure came after they
      // were replaced) the new ones, always within the recorded count, which the next write of the
      // document cleans up to.
      if (created && !atomic) await this.forget(documents, stores, userId, documentId);
      throw e;
    }
    return { document: (await documents.findOne(userId, documentId)) as DocumentEntity, chunks: chunks.length };
  }

  /** Best effort: removes a failed new document's chunks and row (the error that led here is what the caller sees). */
  private async forget(documents: DocumentsRepository, stores: VectorDb[], userId: string, documentId: string): Promise<void> {
    try {
      for (const vectors of stores) await vectors.deleteByDocument(userId, documentId);
      await documents.delete(userId, documentId);
    } catch {
      // The store is failing; the next write of this document replaces what is left.
    }
  }

  /** Every document of the user, oldest first. */
  listDocuments(userId: string): Promise<DocumentEntity[]> {
    return domainErrors(() => this.documents.listByUser(userId))();
  }

  /** A page of the user's documents in id order, after the id `after` (the last of the previous page); the text only `withContent`. */
  pageDocuments(userId: string, page: { first: number; after?: string | null; withContent?: boolean }): Promise<DocumentEntity[]> {
    if (!Number.isInteger(page.first) || page.first < 1) throw new BadInputError('first', 'must be a positive integer');
    return domainErrors(() => this.documents.pageByUser(userId, page.first, page.after ?? null, page.withContent ?? true))();
  }

  getDocument(userId: string, documentId: string): Promise<DocumentEntity | null> {
    return domainErrors(() => this.documents.findOne(userId, documentId))();
  }

  /** Adds to `embedded` (by model) the chunks' vectors for every target whose model is not in it yet. */
  private async embedFor(targets: Served[], chunks: string[], embedded: Map<string, Float32Array[]>): Promise<Map<string, Float32Array[]>> {
    for (const t of targets) if (!embedded.has(t.embeddings.model)) embedded.set(t.embeddings.model, await this.embed(t.embeddings, chunks));
    return embedded;
  }

  private embed(embeddings: Embeddings, texts: string[]): Promise<Float32Array[]> {
    return timed(() => embeddings.embed(texts), (seconds, error) => ({ kind: 'provider-call', port: 'embeddings', provider: embeddings.provider, op: 'embed', seconds, error }));
  }

  /** User-scoped semantic search, best first, in the active embedding generation (each hit names its model). */
  search(userId: string, query: string, limit = 5): Promise<KnowledgeHit[]> {
    return timed(domainErrors(() => this.find(userId, query, limit)), (seconds, error) => ({ kind: 'knowledge', op: 'search', seconds, error }));
  }

  private async find(userId: string, query: string, limit: number): Promise<KnowledgeHit[]> {
    if (typeof query !== 'string' || !query.trim()) throw new BadInputError('query', 'must not be empty');
    if (!Number.isInteger(limit) || limit < 1 || limit > this.options.maxSearchLimit) {
      throw new BadInputError('limit', `must be an integer from 1 to ${this.options.maxSearchLimit}`);
    }
    const active = await this.generations.active();
    const [embedding] = await this.embed(active.embeddings, [query]);
    const matches = await active.vectors.query(embedding, { userId, k: limit });
    return matches.map((m) => ({
      model: active.generation.model,
      documentId: m.documentId,
      chunkIndex: m.chunkIndex,
      content: m.content,
      score: m.score,
      title: typeof m.metadata.title === 'string' ? m.metadata.title : null,
    }));
  }

  /** Answers from the user's own documents, with sources; says so instead of inventing when nothing fits. */
  answer(userId: string, question: string): Promise<KnowledgeAnswer> {
    return timed(domainErrors(() => this.reply(userId, question)), (seconds, error) => ({ kind: 'knowledge', op: 'answer', seconds, error }));
  }

  private async reply(userId: string, question: string): Promise<KnowledgeAnswer> {
    if (typeof question !== 'string' || !question.trim()) throw new BadInputError('question', 'must not be empty');
    const hits = (await this.search(userId, question, Math.min(this.options.answerContextChunks, this.options.maxSearchLimit))).filter(
      (h) => h.score >= this.options.minScore,
    );
    if (!hits.length) return { text: NO_CONTEXT_ANSWER, sources: [], grounded: false };
    const context = hits.map((h, i) => `[${i + 1}] (document ${h.documentId}${h.title ? `, "${h.title}"` : ''})\n${h.content}`).join('\n\n');
    const text = await timed(() => this.llm.chat(
      [
        {
          role: 'system',
          content:
            'Answer the question using only the numbered context passages. Cite passages like [1]. ' +
            'If the context does not contain the answer, say that you do not know.',
        },
        { role: 'user', content: `Context:\n${context}\n\nQuestion: ${question}` },
      ],
      { temperature: 0.1 },
    ), (seconds, error) => ({ kind: 'provider-call', port: 'llm', provider: this.llm.provider, op: 'chat', seconds, error }));
    return { text: text.trim(), sources: hits, grounded: true };
  }

  /** Removes the document and every chunk of it (in one transaction on PostgreSQL + pgvector). False when the user has no such document. */
  deleteDocument(userId: string, documentId: string): Promise<boolean> {
    return timed(domainErrors(() => this.remove(userId, documentId)), (seconds, error) => ({ kind: 'knowledge', op: 'delete', seconds, error }));
  }

  private remove(userId: string, documentId: string): Promise<boolean> {
    return this.documents.withDocumentWrite(userId, documentId, async (write) => {
      const freezes = write.freezes;
      await this.assertVectorsWritable(freezes);
      const { stores, documents } = await this.scopeOf(write, await this.generations.writeTargets());
      const found = await documents.findOne(userId, documentId);
      if (found) await documents.beginWrite(found.id, 0);
      await this.assertVectorsWritable(freezes);
      let removedChunks = 0;
      for (const vectors of stores) removedChunks = Math.max(removedChunks, await vectors.deleteByDocument(userId, documentId));
      const removed = await documents.delete(userId, documentId);
      return removed || removedChunks > 0;
    });
  }
}

/**
 * A relational database that does not answer (a stalled or unreachable PostgreSQL, a SQLite file locked
 * past its busy wait) is PROVIDER_UNAVAILABLE naming the engine, for every caller of the service (the
 * API's resolvers and a host app alike), not TypeORM's own error.
 */
function domainErrors<T>(fn: () => Promise<T>): () => Promise<T> {
  return () =>
    fn().catch((e: unknown) => {
      throw relationalUnavailable(e) ?? e;
    });
}

/** JSON with object keys sorted (the same metadata, whatever order its keys came in). */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}
