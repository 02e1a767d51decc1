import { Inject, Injectable } from '@nestjs/common';
import { BadInputError } from '@switchyard/core';
import { Embeddings } from '@switchyard/embeddings';
import { Llm } from '@switchyard/llm';
import { DocumentEntity, DocumentsRepository, UsersRepository } from '@switchyard/relational-db';
import { VectorDb, VectorRecord } from '@switchyard/vector-db';
import { createHash, randomUUID } from 'node:crypto';
import { createChunker } from './chunking';
import { documentProblem } from './document-rules';
import { IndexResult, KnowledgeAnswer, KnowledgeHit, KnowledgeOptions, NO_CONTEXT_ANSWER } from './knowledge.types';

export const KNOWLEDGE_OPTIONS = Symbol('KNOWLEDGE_OPTIONS');

/** Vector record id of a chunk: stable per (user, document, chunk) and never shared between users. */
export function chunkId(userId: string, documentId: string, index: number): string {
  const key = createHash('sha256').update(userId).update('\0').update(documentId).digest('hex').slice(0, 32);
  return `${key}:${index}`;
}

/** Index, search and answer over a user's documents, on whatever providers are configured. */
@Injectable()
export class KnowledgeService {
  private readonly chunk: (text: string) => Promise<string[]>;

  constructor(
    private readonly documents: DocumentsRepository,
    private readonly users: UsersRepository,
    private readonly vectors: VectorDb,
    private readonly embeddings: Embeddings,
    private readonly llm: Llm,
    @Inject(KNOWLEDGE_OPTIONS) private readonly options: KnowledgeOptions,
  ) {
    this.chunk = createChunker(options);
  }

  /**
   * Stores the document and replaces its chunks. Embedding happens before anything is written, and the
   * old chunks are only removed after the new ones are stored, so a failure leaves the old version
   * searchable. Writes of one document (index, re-index, delete; from any instance) take turns under the
   * document's lock, so the document always ends as exactly one version: its row and its chunks agree.
   */
  async indexDocument(userId: string, input: { documentId?: string | null; content: string; title?: string | null; metadata?: Record<string, unknown> | null }): Promise<IndexResult> {
    const documentId = input.documentId ?? randomUUID();
    const problem = documentProblem({ documentId, content: input.content, title: input.title }, this.options.maxDocumentBytes);
    if (problem) throw new BadInputError(problem.field, problem.message);

    const chunks = await this.chunk(input.content);
    const vectors = await this.embeddings.embed(chunks);
    return this.documents.withDocumentLock(userId, documentId, () => this.store(userId, documentId, input, chunks, vectors));
  }

  /** The writing part of indexDocument, under the document's lock. */
  private async store(
    userId: string,
    documentId: string,
    input: { content: string; title?: string | null; metadata?: Record<string, unknown> | null },
    chunks: string[],
    vectors: Float32Array[],
  ): Promise<IndexResult> {
    const found = await this.documents.findOne(userId, documentId);
    // Chunks a write that died half-way left behind: beyond the recorded count of an existing document
    // (raised before writing, with its version), or of a document that has no row yet. The count is read
    // again after the raise: a re-index job may have recorded more chunks since the first read.
    if (found) await this.documents.beginWrite(found.id, chunks.length);
    else await this.vectors.deleteByDocument(userId, documentId);
    const previous = found && (await this.documents.findOne(userId, documentId));
    const records: VectorRecord[] = chunks.map((content, i) => ({
      id: chunkId(userId, documentId, i),
      userId,
      documentId,
      chunkIndex: i,
      content,
      embedding: vectors[i],
      metadata: { title: input.title ?? null },
    }));
    await this.vectors.upsert(records);
    const previousChunks = previous?.chunkCount ?? 0;
    const staleIds = Array.from({ length: Math.max(0, previousChunks - chunks.length) }, (_, j) => chunkId(userId, documentId, chunks.length + j));
    await this.vectors.deleteIds(staleIds);

    await this.users.ensure(userId);
    const document = await this.documents.save({ userId, externalId: documentId, title: input.title ?? null, content: input.content, metadata: input.metadata ?? null });
    await this.documents.markIndexed(document.id, chunks.length, this.embeddings.model);
    return { document: (await this.documents.findOne(userId, documentId)) as DocumentEntity, chunks: chunks.length };
  }

  listDocuments(userId: string): Promise<DocumentEntity[]> {
    return this.documents.listByUser(userId);
  }

  getDocument(userId: string, documentId: string): Promise<DocumentEntity | null> {
    return this.documents.findOne(userId, documentId);
  }

  /** User-scoped semantic search, best first. */
  async search(userId: string, query: string, limit = 5): Promise<KnowledgeHit[]> {
    if (typeof query !== 'string' || !query.trim()) throw new BadInputError('query', 'must not be empty');
    if (!Number.isInteger(limit) || limit < 1 || limit > this.options.maxSearchLimit) {
      throw new BadInputError('limit', `must be an integer from 1 to ${this.options.maxSearchLimit}`);
    }
    const [embedding] = await this.embeddings.embed([query]);
    const matches = await this.vectors.query(embedding, { userId, k: limit });
    return matches.map((m) => ({
      documentId: m.documentId,
      chunkIndex: m.chunkIndex,
      content: m.content,
      score: m.score,
      title: typeof m.metadata.title === 'string' ? m.metadata.title : null,
    }));
  }

  /** Answers from the user's own documents, with sources; says so instead of inventing when nothing fits. */
  async answer(userId: string, question: string): Promise<KnowledgeAnswer> {
    if (typeof question !== 'string' || !question.trim()) throw new BadInputError('question', 'must not be empty');
    const hits = (await this.search(userId, question, Math.min(this.options.answerContextChunks, this.options.maxSearchLimit))).filter(
      (h) => h.score >= this.options.minScore,
    );
    if (!hits.length) return { text: NO_CONTEXT_ANSWER, sources: [], grounded: false };
    const context = hits.map((h, i) => `[${i + 1}] (document ${h.documentId}${h.title ? `, "${h.title}"` : ''})\n${h.content}`).join('\n\n');
    const text = await this.llm.chat(
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
    );
    return { text: text.trim(), sources: hits, grounded: true };
  }

  /** Removes the document and every chunk of it. False when the user has no such document. */
  async deleteDocument(userId: string, documentId: string): Promise<boolean> {
    return this.documents.withDocumentLock(userId, documentId, async () => {
      const removedChunks = await this.vectors.deleteByDocument(userId, documentId);
      const removed = await this.documents.delete(userId, documentId);
      return removed || removedChunks > 0;
    });
  }
}
