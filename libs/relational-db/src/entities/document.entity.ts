import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** A user's document. Keeps its full text so it can be re-indexed with another model later. */
@Entity('documents')
@Index('uq_documents_user_external', ['userId', 'externalId'], { unique: true })
export class DocumentEntity {
  /** Internal id (uuid), unique across users. */
  @PrimaryColumn({ type: 'varchar', length: 64 })
  id: string;

  @Index('idx_documents_user_id')
  @Column({ name: 'user_id', type: 'varchar', length: 255 })
  userId: string;

  /** The id the user chose (or was given); unique per user only. */
  @Column({ name: 'external_id', type: 'varchar', length: 255 })
  externalId: string;

  @Column({ type: 'varchar', length: 1000, nullable: true })
  title: string | null;

  @Column({ type: 'text' })
  content: string;

  @Column({ name: 'content_bytes', type: 'integer' })
  contentBytes: number;

  @Column({ name: 'chunk_count', type: 'integer', default: 0 })
  chunkCount: number;

  /** Raised by every write of the text (under the document's lock): a re-index that read an older version leaves it to the app. */
  @Column({ type: 'integer', default: 0 })
  version: number;

  @Column({ type: 'json', nullable: true })
  metadata: Record<string, unknown> | null;

  @Column({ name: 'embedding_model', type: 'varchar', length: 255, nullable: true })
  embeddingModel: string | null;

  @Column({ name: 'indexed_at', type: Date, nullable: true })
  indexedAt: Date | null;

  @CreateDateColumn({ name: 'created_at' })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at' })
  updatedAt: Date;
}
