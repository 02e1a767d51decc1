import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { SqlSession } from '@switchyard/core';
import { EntityManager, In, MoreThan, Repository } from 'typeorm';
import { DocumentEntity } from '../entities';
import { LockOptions, LockScope, RelationalDb } from '../relational-db.port';
import { UsersRepository } from './users.repository';
import { VectorFreezeRepository } from './vector-freeze.repository';

export interface SaveDocumentInput {
  userId: string;
  externalId: string;
  title?: string | null;
  content: string;
  metadata?: Record<string, unknown> | null;
}

/**
 * One write of one document, as withDocumentWrite() hands it out: repositories whose statements run in
 * the write's transaction (PostgreSQL; SQLite: one statement at a time), and the transaction for a
 * vector store in the same database to join (null on SQLite).
 */
export interface DocumentWrite {
  readonly documents: DocumentsRepository;
  readonly users: UsersRepository;
  readonly freezes: VectorFreezeRepository;
  readonly session: SqlSession | null;
}

@Injectable()
export class DocumentsRepository {
  /** Set on a copy made by inScope(): statements go through this transaction. */
  private manager: EntityManager | null = null;

  constructor(private readonly db: RelationalDb) {}

  /** The database these documents are in. */
  get relational(): RelationalDb {
    return this.db;
  }

  private get repo(): Repository<DocumentEntity> {
    return this.manager ? this.manager.getRepository(DocumentEntity) : this.db.repository(DocumentEntity);
  }

  /** This repository inside a withLock() section's transaction (where it has one: PostgreSQL). */
  inScope(scope: LockScope): DocumentsRepository {
    const r = new DocumentsRepository(this.db);
    r.manager = scope.manager;
    return r;
  }

  /**
   * Runs `fn` as the only writer of one (user, document): index, re-index and delete of the same
   * document take turns in every app instance using this database (PostgreSQL; SQLite: in this process).
   */
  withDocumentLock<T>(userId: string, externalId: string, fn: (scope: LockScope) => Promise<T>): Promise<T> {
    return this.db.withLock(documentLockKey(userId, externalId), fn);
  }

  /**
   * withDocumentLock(), with the repositories of the write: on PostgreSQL everything written through
   * them (and through a vector store that joined `session`) is one transaction, committed when `fn`
   * returns and rolled back when it throws.
   */
  withDocumentWrite<T>(userId: string, externalId: string, fn: (write: DocumentWrite) => Promise<T>): Promise<T> {
    return this.withDocumentWrites([[userId, externalId]], fn);
  }

  /** withDocumentWrite() for several documents at once: each one's lock held, one write (transaction) for all. */
  withDocumentWrites<T>(keys: [userId: string, externalId: string][], fn: (write: DocumentWrite) => Promise<T>, options?: LockOptions): Promise<T> {
    return this.db.withLocks(
      keys.map(([u, e]) => documentLockKey(u, e)),
      (scope) => fn({ documents: this.inScope(scope), users: new UsersRepository(this.db).inScope(scope), freezes: new VectorFreezeRepository(this.db).inScope(scope), session: scope.session }),
      options,
    );
  }

  /**
   * Starts a write of an existing document's text, before any chunk is written: raises its version (a
   * re-index that read the older one will not overwrite this write) and its recorded chunk count to at
   * least `n`, so that a write that dies half-way leaves a count covering every chunk it may have
   * stored (the next write removes them).
   */
  async beginWrite(id: string, n: number): Promise<void> {
    await this.repo
      .createQueryBuilder()
      .update()
      .set({ version: () => 'version + 1', chunkCount: () => `CASE WHEN chunk_count < ${Math.floor(n)} THEN ${Math.floor(n)} ELSE chunk_count END` })
      .where('id = :id', { id })
      .execute();
  }

  /** Whether the document is still at `version` (nobody wrote it since it was read). */
  async atVersion(id: string, version: number): Promise<boolean> {
    return (await this.repo.count({ where: { id, version } })) > 0;
  }

  /** Records an indexing only if the document is still at `version` (nobody wrote it since it was read). */
  async markIndexedAt(id: string, version: number, chunkCount: number, embeddingModel: string, indexedAt: Date): Promise<boolean> {
    const r = await this.repo.update({ id, version }, { chunkCount, embeddingModel, indexedAt });
    return (r.affected ?? 0) > 0;
  }

  findOne(userId: string, externalId: string): Promise<DocumentEntity | null> {
    return this.repo.findOne({ where: { userId, externalId } });
  }

  /**
   * One page of a user's documents in document-id order: up to `first`, after the id `after`. Without
   * `withContent` the text is not read (listing pages must not cost the documents' bytes).
   */
  pageByUser(userId: string, first: number, after: string | null, withContent: boolean): Promise<DocumentEntity[]> {
    const columns = this.repo.metadata.columns.map((c) => c.propertyName as keyof DocumentEntity).filter((p) => withContent || p !== 'content');
    return this.repo.find({
      select: Object.fromEntries(columns.map((c) => [c, true])) as never,
      where: after === null ? { userId } : { userId, externalId: MoreThan(after) },
      order: { externalId: 'ASC' },
      take: first,
    });
  }

  listByUser(userId: string): Promise<DocumentEntity[]> {
    return this.repo.find({ where: { userId }, order: { createdAt: 'ASC', externalId: 'ASC' } });
  }

  /** Creates the document or replaces its text, keeping its internal id. */
  async save(input: SaveDocumentInput): Promise<DocumentEntity> {
    const existing = await this.findOne(input.userId, input.externalId);
    const doc = existing ?? this.repo.create({ id: randomUUID(), userId: input.userId, externalId: input.externalId, chunkCount: 0 });
    doc.title = input.title ?? null;
    doc.content = input.content;
    doc.contentBytes = Buffer.byteLength(input.content, 'utf8');
    doc.metadata = input.metadata ?? null;
    // Raised again with the new text (beginWrite raised it before the chunks): a re-index that read the
    // row in between (new version, old text) still sees that it changed.
    doc.version = (existing?.version ?? 0) + 1;
    return this.repo.save(doc);
  }

  async markIndexed(id: string, chunkCount: number, embeddingModel: string): Promise<void> {
    await this.repo.update({ id }, { chunkCount, embeddingModel, indexedAt: new Date() });
  }

  /** How many documents there are (of every user). */
  countAll(): Promise<number> {
    return this.repo.count();
  }

  /** Of these (user, document) pairs, the ones that have a document row, as JSON.stringify([userId, externalId]). */
  async existingKeys(pairs: [string, string][]): Promise<Set<string>> {
    const byUser = new Map<string, string[]>();
    for (const [u, d] of pairs) byUser.set(u, [...(byUser.get(u) ?? []), d]);
    const found = new Set<string>();
    for (const [userId, ids] of byUser) {
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await this.repo.find({ select: { userId: true, externalId: true }, where: { userId, externalId: In(ids.slice(i, i + 500)) } });
        for (const r of rows) found.add(JSON.stringify([r.userId, r.externalId]));
      }
    }
    return found;
  }

  async delete(userId: string, externalId: string): Promise<boolean> {
    const r = await this.repo.delete({ userId, externalId });
    return (r.affected ?? 0) > 0;
  }

  count(): Promise<number> {
    return this.repo.count();
  }

  /** Every document in stable id order, a page at a time (re-index, export). */
  pages(pageSize: number, after?: string): AsyncGenerator<DocumentEntity[]> {
    return this.db.pages(DocumentEntity, pageSize, after);
  }
}

/** The lock name of one (user, document). */
function documentLockKey(userId: string, externalId: string): string {
  return `document:${JSON.stringify([userId, externalId])}`;
}
