import { errorMessage, SwitchyardError } from '@switchyard/core';
import type { StoredFields, VectorDb, VectorRecord } from '@switchyard/vector-db';
import type { DataReader, DataWriter, Page, WriteMode } from './datasets';

/** The embedding of a record that has none (yet): a re-index fills it, a malformed export line keeps it. */
export const NO_EMBEDDING = new Float32Array(0);

/** A stored record's fields with NO_EMBEDDING in place of its embedding (whose dimension it drops). */
const fieldsOnly = ({ dimensions: _dimensions, ...fields }: StoredFields): VectorRecord => ({ ...fields, embedding: NO_EMBEDDING });

/**
 * A vector collection of any driver: scanned in id order, written in bulk. With `fields`, what it reads
 * carries NO_EMBEDDING instead of the embeddings: for a comparison of the fields only (a re-index's
 * verification), without moving every embedding out of the store.
 */
export class VectorCollection implements DataReader<VectorRecord>, DataWriter<VectorRecord> {
  readonly name: string;
  readonly label: string;

  constructor(
    readonly db: VectorDb,
    private readonly o: { fields?: boolean } = {},
  ) {
    this.name = db.collection;
    this.label = `${db.provider} collection "${db.collection}" at ${db.location}`;
  }

  private async *scan(size: number, after?: string, until?: string): AsyncGenerator<VectorRecord[]> {
    if (!this.o.fields) return yield* this.db.scan(size, after, until);
    for await (const page of this.db.scanFields(size, after, until)) yield page.map(fieldsOnly);
  }

  count(): Promise<number> {
    return this.db.count();
  }

  async *pages(size: number, after?: string): AsyncGenerator<Page<VectorRecord>> {
    for await (const items of this.scan(size, after)) yield { items, cursor: items[items.length - 1].id, units: items.length };
  }

  idOf(r: VectorRecord): string {
    return r.id;
  }

  /** Ids that cut the collection into ranges of `every` records (a partitioned job's bounds). */
  splitPoints(every: number): Promise<string[]> {
    return this.db.splitPoints(every);
  }

  /** The records of the range (after, until] only (until undefined: to the end), as a reader resumable inside it. */
  range(after: string | undefined, until: string | undefined): DataReader<VectorRecord> {
    const view = Object.create(this) as VectorCollection;
    view.pages = async function* (this: VectorCollection, size: number, from?: string) {
      for await (const items of this.scan(size, from ?? after, until)) yield { items, cursor: items[items.length - 1].id, units: items.length };
    };
    return view;
  }

  async existing(items: VectorRecord[]): Promise<number> {
    return (await this.db.existingIds(items.map((r) => r.id))).length;
  }

  validate(r: VectorRecord): string | null {
    try {
      this.db.validate([r]);
      return null;
    } catch (e) {
      return errorMessage(e);
    }
  }

  async write(items: VectorRecord[], mode: WriteMode): Promise<{ written: number; skipped: number }> {
    // A stored id is an error: the store refuses the whole batch (pgvector on its primary key, in one COPY).
    if (mode === 'error') {
      await this.db.insertNew(items);
      return { written: items.length, skipped: 0 };
    }
    let todo = items;
    if (mode !== 'overwrite' && items.length) {
      const present = new Set(await this.db.existingIds(items.map((r) => r.id)));
      todo = items.filter((r) => !present.has(r.id));
    }
    await this.db.upsert(todo);
    return { written: todo.length, skipped: items.length - todo.length };
  }

  /** The stored records of these ids (verification compares content by id). */
  async fetch(ids: string[]): Promise<VectorRecord[]> {
    return this.o.fields ? (await this.db.fieldRecords(ids)).map(fieldsOnly) : this.db.records(ids);
  }

  clear(): Promise<void> {
    return this.db.reset();
  }

  prepare(): Promise<void> {
    return this.db.prepareBulkLoad();
  }

  finish(): Promise<void> {
    return this.db.finishBulkLoad();
  }

  encode(r: VectorRecord): unknown {
    const embedding = Buffer.from(r.embedding.buffer, r.embedding.byteOffset, r.embedding.byteLength).toString('base64');
    return { id: r.id, userId: r.userId, documentId: r.documentId, chunkIndex: r.chunkIndex, content: r.content, metadata: r.metadata ?? {}, embedding };
  }

  /**
   * Every line of a vector export is a record: a line with missing or malformed fields still decodes (with
   * what it has), so validation rejects it with its reason instead of the line being silently dropped.
   */
  decode(value: unknown): VectorRecord | null {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { id: String(value), userId: '', documentId: '', chunkIndex: -1, content: '', metadata: {}, embedding: NO_EMBEDDING };
    const v = value as Omit<VectorRecord, 'embedding'> & { embedding?: unknown };
    let embedding = NO_EMBEDDING;
    if (typeof v.embedding === 'string') {
      const b = Buffer.from(v.embedding, 'base64');
      embedding = b.byteLength % 4 === 0 ? new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)) : NO_EMBEDDING;
    }
    return { id: typeof v.id === 'string' ? v.id : String(v.id ?? ''), userId: v.userId, documentId: v.documentId, chunkIndex: v.chunkIndex, content: typeof v.content === 'string' ? v.content : '', metadata: v.metadata ?? {}, embedding };
  }
}
