import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Repository } from 'typeorm';
import { DocumentEntity } from '../entities';
import { RelationalDb } from '../relational-db.port';

export interface SaveDocumentInput {
  userId: string;
  externalId: string;
  title?: string | null;
  content: string;
  metadata?: Record<string, unknown> | null;
}

@Injectable()
export class DocumentsRepository {
  constructor(private readonly db: RelationalDb) {}

  private get repo(): Repository<DocumentEntity> {
    return this.db.repository(DocumentEntity);
  }

  findOne(userId: string, externalId: string): Promise<DocumentEntity | null> {
    return this.repo.findOne({ where: { userId, externalId } });
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
    return this.repo.save(doc);
  }

  async markIndexed(id: string, chunkCount: number, embeddingModel: string): Promise<void> {
    await this.repo.update({ id }, { chunkCount, embeddingModel, indexedAt: new Date() });
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
