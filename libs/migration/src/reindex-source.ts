import type { Embeddings } from '@switchyard/embeddings';
import { chunkId, storedAsWritten } from '@switchyard/knowledge';
import { DocumentEntity, DocumentsRepository, DocumentWrite, isLockTimeout, RelationalDb, VectorFreezeRepository } from '@switchyard/relational-db';
import type { Metadata, VectorDb, VectorRecord } from '@switchyard/vector-db';
import type { DataReader, Page } from './datasets';
import type { ChunkFn } from './migration.types';
import { NO_EMBEDDING } from './vector-collection';

/** Documents recorded in one locked write. */
const RECORD_GROUP = 100;
/** How long a group's write waits for its locks before each document is recorded on its own. */
const GROUP_WAIT_MS = 2_000;

/**
 * The target's documents as the vector records the knowledge service would index them as: same chunker,
 * same chunk ids, same metadata. With `embeddings` every chunk is embedded (one model call per page,
 * overlapping the writing of the previous page); without, records carry no embedding (verification).
 * A store a live migration froze is not written: each page checks before it is handed out and again,
 * under each document's lock, when it is recorded (MAINTENANCE, the job fails and can be resumed later).
 */
export class ReindexSource implements DataReader<VectorRecord> {
  readonly name = 'documents';

  constructor(
    private readonly db: RelationalDb,
    private readonly vectors: VectorDb,
    private readonly chunk: ChunkFn,
    private readonly embeddings: Embeddings | null,
    /**
     * Leave alone a document whose stored chunks already are what this job would write (same ids, text,
     * title, chunk count, an embedding of the configured size) and that was embedded with this model:
     * a second re-index of an unchanged corpus embeds nothing. Off: every document is embedded again.
     */
    private readonly incremental = false,
    /**
     * Record the model and chunk count on each document (an in-place re-index). Off for a BLUE_GREEN
     * generation being built: the documents' rows describe the active generation, which the app keeps
     * writing; a page is then only checked against the version it read.
     */
    private readonly recordModel = true,
  ) {}

  private store$?: Promise<string>;

  count(): Promise<number> {
    return this.db.repository(DocumentEntity).count();
  }

  /** MAINTENANCE when a live migration froze the store this job writes. */
  private async assertWritable(freezes = new VectorFreezeRepository(this.db)): Promise<void> {
    this.store$ ??= this.vectors.identity();
    await freezes.assertWritable(await this.store$);
  }

  /** Document ids that cut the documents into ranges of `every` (a re-index run as partitions on queue workers). */
  splitPoints(every: number): Promise<string[]> {
    return this.db.splitPoints(DocumentEntity, every);
  }

  /** The chunks of the documents in the id range (after, until] only, as a reader resumable inside it. */
  range(after: string | undefined, until: string | undefined): DataReader<VectorRecord> {
    const view = Object.create(this) as ReindexSource;
    view.pages = (size: number, from?: string) => this.documentPages(size, from ?? after, until);
    return view;
  }

  pages(size: number, after?: string): AsyncGenerator<Page<VectorRecord>> {
    return this.documentPages(size, after, undefined);
  }

  private async *documentPages(size: number, after: string | undefined, until: string | undefined): AsyncGenerator<Page<VectorRecord>> {
    for await (const docs of this.db.pages(DocumentEntity, size, after, until)) {
      if (this.embeddings) await this.assertWritable();
      const chunks = await Promise.all(docs.map((d) => this.chunk(d.content)));
      const records = docs.map((d, i) => chunks[i].map((content, j) => this.record(d, j, content)));
      const embeddings = this.embeddings;
      const todo = embeddings && this.incremental ? await this.changed(docs, records, embeddings) : docs.map((_, i) => i);
      const items = todo.flatMap((i) => records[i]);
      if (embeddings) (await embeddings.embed(items.map((r) => r.content))).forEach((v, i) => (items[i].embedding = v));
      const commit = embeddings && todo.length ? () => this.markIndexed(todo.map((i) => docs[i]), todo.map((i) => chunks[i].length), embeddings.model) : undefined;
      yield { items, cursor: docs[docs.length - 1].id, units: docs.length, unchanged: docs.length - todo.length, commit };
    }
  }

  /**
   * Which of the page's documents must be embedded again (their indexes): all but those the store already
   * holds exactly as this job would write them, embedded with this model. Read in one call for the page.
   * A document the app writes meanwhile is the app's to index (its write replaces the chunks).
   */
  private async changed(docs: DocumentEntity[], records: VectorRecord[][], embeddings: Embeddings): Promise<number[]> {
    const held = await storedAsWritten(this.vectors, records, embeddings.dimensions);
    return docs.flatMap((d, i) => (d.embeddingModel === embeddings.model && d.chunkCount === records[i].length && held[i] ? [] : [i]));
  }

  idOf(r: VectorRecord): string {
    return r.id;
  }

  private record(d: DocumentEntity, index: number, content: string): VectorRecord {
    const metadata: Metadata = { title: d.title ?? null };
    return { id: chunkId(d.userId, d.externalId, index), userId: d.userId, documentId: d.externalId, chunkIndex: index, content, metadata, embedding: NO_EMBEDDING };
  }

  /**
   * Removes chunks an older, longer indexing left behind, and records count, model and time on each
   * document that is still at the version this page read. A document the app wrote (or deleted) since
   * then got this job's chunks of its older text: it is done again under its lock, from what it holds
   * now, so the app's write wins. The page's documents are locked together (one transaction on
   * PostgreSQL + pgvector): an app write of any of them is either all before or all after.
   */
  private async markIndexed(docs: DocumentEntity[], counts: number[], model: string): Promise<void> {
    const indexedAt = new Date();
    const repo = new DocumentsRepository(this.db);
    // Groups of at most RECORD_GROUP documents: one lock each, held by one transaction (PostgreSQL's lock table is finite).
    for (let at = 0; at < docs.length; at += RECORD_GROUP) {
      const group = docs.slice(at, at + RECORD_GROUP).map((d, i) => ({ d, count: counts[at + i] }));
      const keys = group.map(({ d }) => [d.userId, d.externalId] as [string, string]);
      try {
        await repo.withDocumentWrites(keys, (write) => this.recordGroup(repo, write, group, model, indexedAt), { waitMs: GROUP_WAIT_MS });
      } catch (e) {
        // Some document's lock stayed taken (an app writing it): never holding the others up for long,
        // each document is then recorded on its own, waiting its turn.
        if (!isLockTimeout(e)) throw e;
        for (const one of group) await repo.withDocumentWrite(one.d.userId, one.d.externalId, (write) => this.recordGroup(repo, write, [one], model, indexedAt));
      }
    }
  }

  /** Records a group of documents inside their write (see markIndexed). */
  private async recordGroup(repo: DocumentsRepository, write: DocumentWrite, group: { d: DocumentEntity; count: number }[], model: string, indexedAt: Date): Promise<void> {
    await this.assertWritable(write.freezes);
    const joined = write.session && (await this.vectors.within(write.session));
    const vectors = joined || this.vectors;
    // one transaction with the chunks, or (a store that cannot join) statements that commit one by one
    const documents = joined ? write.documents : repo;
    for (const { d, count } of group) {
      const current = this.recordModel ? await documents.markIndexedAt(d.id, d.version, count, model, indexedAt) : await documents.atVersion(d.id, d.version);
      if (current) {
        // At once, document by document: where statements commit one by one, a failure later in the group
        // must not leave a lowered count with old chunks beyond it (nothing would ever remove them).
        await vectors.deleteIds(Array.from({ length: Math.max(0, d.chunkCount - count) }, (_, j) => chunkId(d.userId, d.externalId, count + j)));
      } else await this.redo(documents, vectors, d, Math.max(count, d.chunkCount), model);
    }
  }

  /** A document changed while this page was embedded: index what it holds now (or remove its chunks if it is gone). Runs in the document's write. */
  private async redo(docs: DocumentsRepository, vectors: VectorDb, read: DocumentEntity, written: number, model: string): Promise<void> {
    const embeddings = this.embeddings!;
    const now = await docs.findOne(read.userId, read.externalId);
    if (!now) {
      await vectors.deleteByDocument(read.userId, read.externalId);
      return;
    }
    const texts = await this.chunk(now.content);
    const records = texts.map((content, j) => this.record(now, j, content));
    (await embeddings.embed(texts)).forEach((v, j) => (records[j].embedding = v));
    await vectors.upsert(records);
    const high = Math.max(written, now.chunkCount);
    await vectors.deleteIds(Array.from({ length: Math.max(0, high - texts.length) }, (_, j) => chunkId(now.userId, now.externalId, texts.length + j)));
    if (this.recordModel) await docs.markIndexed(now.id, texts.length, model);
  }
}

