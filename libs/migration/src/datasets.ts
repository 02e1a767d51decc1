import { errorMessage, SwitchyardError } from '@switchyard/core';
import type { Embeddings } from '@switchyard/embeddings';
import { chunkId } from '@switchyard/knowledge';
import { ColumnRow, datasetNameOf, DocumentEntity, DocumentsRepository, RelationalDb, RowConflict, TableIo } from '@switchyard/relational-db';
import type { Metadata, VectorDb, VectorRecord } from '@switchyard/vector-db';
import { EntityMetadata, EntityTarget, In, ObjectLiteral } from 'typeorm';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { ChunkFn } from './migration.types';
import { NdjsonWriter, readLines } from './ndjson';
import { columnProblem, existingTuples, kindOf, TableRules, tupleKey, uniqueConflicts } from './row-rules';

/** One page read from a source: the records, where to resume after it, and how much progress it is. */
export interface Page<T> {
  items: T[];
  /** Opaque resume position: the last key read (or the last file line). */
  cursor: string;
  /** Progress units in this page (records; documents for a re-index). */
  units: number;
  /** Runs after the page is written and before it is checkpointed. */
  commit?: () => Promise<void>;
}

/** Something records are read from in a stable order, resumable after a cursor. */
export interface DataReader<T> {
  readonly name: string;
  /** Progress units in the whole dataset. */
  count(): Promise<number>;
  pages(size: number, after?: string): AsyncIterable<Page<T>>;
  idOf(item: T): string;
  /** The record as JSON (for the reject file). */
  encode?(item: T): unknown;
}

export type WriteMode = RowConflict;

/** Something records are written into. */
export interface DataWriter<T> {
  readonly name: string;
  /** Where, for messages (never secrets). */
  readonly label: string;
  count(): Promise<number>;
  /** How many of these records' ids are already present. */
  existing(items: T[]): Promise<number>;
  /** Why this record cannot be stored here as it is, or null. */
  validate(item: T): string | null;
  /** The stored records with these ids (for a comparison by key), where the store can read by id. */
  fetch?(ids: string[]): Promise<T[]>;
  /** Dry run: ids (per step name) the run would have written by now, for the parent checks of `screen`. */
  assumeWritten?(planned: Map<string, Set<string>>): void;
  /** Checks that need the store or the whole batch (unique keys, parent rows): reasons by index into `items`. */
  screen?(items: T[]): Promise<Map<number, string>>;
  write(items: T[], mode: WriteMode): Promise<{ written: number; skipped: number }>;
  /** Removes every record (TRUNCATE). */
  clear(): Promise<void>;
  prepare?(): Promise<void>;
  finish?(): Promise<void>;
}

const NO_EMBEDDING = new Float32Array(0);

/**
 * A table (Switchyard's own, a host entity's, a junction table) as column rows: read with keyset pages
 * in primary-key order, written with the driver's bulk path (PostgreSQL: COPY). As a target it screens
 * rows against the column types, the API's rules, unique keys and parent rows (foreign keys), and sets
 * self-references once the whole table is in (a row may name a parent that comes later in key order).
 */
export class RelationalTable implements DataReader<ColumnRow>, DataWriter<ColumnRow> {
  readonly io: TableIo;
  readonly meta: EntityMetadata;
  /** The dataset's name (step, checkpoint, backup record): Switchyard's own tables by logical name, whatever the prefix. */
  readonly name: string;
  /** The table's name in this database. */
  readonly table: string;
  readonly label: string;
  /** A dry run: ids each step would have written by now (parents are not copied yet). */
  private planned?: Map<string, Set<string>>;
  /** Where the rows written here come from, to set their self-references after the copy (finish). */
  private selfRefSource?: DataReader<ColumnRow>;

  constructor(
    readonly db: RelationalDb,
    entity: EntityTarget<ObjectLiteral>,
    /** Rules the rows written here must meet (a source table needs none). */
    private readonly rules: TableRules = { parents: [], selfRefs: [] },
  ) {
    this.io = db.table(entity);
    this.meta = this.io.meta;
    this.name = db.datasetName(entity);
    this.table = this.io.table;
    this.label = `table "${this.table}" at ${db.label}`;
  }

  count(): Promise<number> {
    return this.io.count();
  }

  async *pages(size: number, after?: string): AsyncGenerator<Page<ColumnRow>> {
    for await (const items of this.io.pages(size, after)) yield { items, cursor: this.idOf(items[items.length - 1]), units: items.length };
  }

  idOf(row: ColumnRow): string {
    return this.io.idOf(row);
  }

  async existing(items: ColumnRow[]): Promise<number> {
    return (await this.io.lookup(this.io.key, items.map((r) => this.io.key.map((k) => r[k.databaseName])), this.io.key)).length;
  }

  fetch(ids: string[]): Promise<ColumnRow[]> {
    return this.io.fetch(ids);
  }

  validate(row: ColumnRow): string | null {
    for (const c of this.io.columns) {
      const v = row[c.databaseName];
      if (v === null || v === undefined) {
        if (!c.isNullable && c.default === undefined && !c.isCreateDate && !c.isUpdateDate && !c.isGenerated) return `${c.databaseName} is null but the column is NOT NULL`;
        continue;
      }
      const typeProblem = columnProblem(c, v);
      if (typeProblem) return typeProblem;
      if (typeof v !== 'string') continue;
      if (c.length && v.length > Number(c.length) && [...v].length > Number(c.length)) {
        return `${c.databaseName} has ${[...v].length} characters; the target column holds at most ${c.length}`;
      }
      if (this.db.provider === 'postgres' && v.includes('\u0000')) return `${c.databaseName} contains a NUL character, which PostgreSQL text cannot hold`;
    }
    return this.rules.check?.(row) ?? null;
  }

  /** For a dry run: treat these ids (per table) as written, as the run would have by then. */
  assumeWritten(planned: Map<string, Set<string>>): void {
    this.planned = planned;
  }

  /** Parent rows that must exist (in the target, or for a dry run in the source too) and unique keys. */
  async screen(rows: ColumnRow[]): Promise<Map<number, string>> {
    const out = await uniqueConflicts(this.io, rows);
    for (const p of this.rules.parents) {
      const tupleOf = (r: ColumnRow) => p.columns.map((c) => r[c.databaseName]);
      const wanted = rows.map(tupleOf).filter((t) => t.every((v) => v !== null && v !== undefined));
      const unique = [...new Map(wanted.map((t) => [tupleKey(t), t])).values()];
      const found = await existingTuples(this.db, p.parent, p.parentColumns, unique);
      const planned = this.planned?.get(datasetNameOf(p.parent));
      // A dry run: a parent the run would have written by then counts as there (planned ids are parent primary keys).
      if (planned) for (const t of unique) if (planned.has(t.length === 1 ? String(t[0]) : JSON.stringify(t))) found.add(tupleKey(t));
      rows.forEach((r, i) => {
        const t = tupleOf(r);
        if (out.has(i) || t.some((v) => v === null || v === undefined) || found.has(tupleKey(t))) return;
        out.set(i, `${p.noun} ${t.length === 1 ? JSON.stringify(String(t[0])) : tupleKey(t)} (${p.columns.map((c) => c.databaseName).join(', ')}) does not exist`);
      });
    }
    return out;
  }

  /**
   * screen(), and self-references too: for rows written whole (a live job's catch-up), whose parent in the
   * same table must be in the target already or among these rows.
   */
  async screenWhole(rows: ColumnRow[]): Promise<Map<number, string>> {
    const out = await this.screen(rows);
    const own = new Set(rows.map((r) => tupleKey(this.io.key.map((k) => r[k.databaseName]))));
    for (const cols of this.rules.selfRefs) {
      const tupleOf = (r: ColumnRow) => cols.map((c) => r[c.databaseName]);
      const wanted = rows.map(tupleOf).filter((t) => t.every((v) => v !== null && v !== undefined) && !own.has(tupleKey(t)));
      const found = await existingTuples(this.db, this.meta, this.io.key, [...new Map(wanted.map((t) => [tupleKey(t), t])).values()]);
      rows.forEach((r, i) => {
        const t = tupleOf(r);
        if (out.has(i) || t.some((v) => v === null || v === undefined) || own.has(tupleKey(t)) || found.has(tupleKey(t))) return;
        out.set(i, `${this.table} ${tupleKey(t)} (${cols.map((c) => c.databaseName).join(', ')}) does not exist yet`);
      });
    }
    return out;
  }

  /** Self-reference columns a row is first written without (NULL), while its parent may not be in yet. */
  private get deferred(): ColumnMetadata[] {
    return this.rules.selfRefs.flat().filter((c) => c.isNullable);
  }

  /** The rows to write for a copy of `source`: self-references set after the whole table is in (finish). */
  setSelfRefSource(source: DataReader<ColumnRow>): void {
    this.selfRefSource = source;
  }

  async write(items: ColumnRow[], mode: WriteMode): Promise<{ written: number; skipped: number }> {
    const skipped = mode === 'skip' ? await this.existing(items) : 0;
    const deferred = this.selfRefSource ? this.deferred : [];
    const rows = deferred.length ? items.map((r) => ({ ...r, ...Object.fromEntries(deferred.map((c) => [c.databaseName, null])) })) : items;
    await this.io.write(rows, mode);
    return { written: items.length - skipped, skipped };
  }

  /**
   * After the copy: sets the self-references written as NULL (reading the source again, so a resumed run
   * does it too; idempotent), then moves auto-increment sequences past the copied ids.
   */
  async finish(): Promise<void> {
    const deferred = this.deferred;
    if (this.selfRefSource && deferred.length) {
      for await (const page of this.selfRefSource.pages(1000)) {
        const refs = page.items.filter((r) => deferred.some((c) => r[c.databaseName] !== null && r[c.databaseName] !== undefined));
        const present = new Set((await this.io.lookup(this.io.key, refs.map((r) => this.io.key.map((k) => r[k.databaseName])), this.io.key)).map((r) => this.idOf(r)));
        await this.io.update(refs.filter((r) => present.has(this.idOf(r))), deferred);
      }
    }
    if (!this.db.readOnly) await this.io.resetSequences();
  }

  clear(): Promise<void> {
    return this.db.truncate(this.meta.target);
  }

  /** Copies the table into `<table>_backup_<tag>` in the same database. */
  async snapshot(tag: string): Promise<string> {
    return this.db.snapshotTable(this.table, `${this.table}_backup_${tag}`);
  }

  restore(snapshot: string): Promise<void> {
    return this.db.restoreSnapshot(this.table, snapshot);
  }

  snapshotCount(snapshot: string): Promise<number> {
    return this.db.countTable(snapshot);
  }

  /** The row as a JSON value, by column name (dates as ISO strings through JSON, bytes as {$bytes: base64}). */
  encode(row: ColumnRow): unknown {
    const r: Record<string, unknown> = {};
    for (const c of this.io.columns) {
      const v = row[c.databaseName] ?? null;
      r[c.databaseName] = Buffer.isBuffer(v) ? { $bytes: v.toString('base64') } : v;
    }
    return { t: this.name, r };
  }

  /** A row of this table from an export line (by column name; 0.1 files by property name), or null if the line is another table's. */
  decode(value: unknown): ColumnRow | null {
    const line = value as { t?: string; r?: Record<string, unknown> };
    if (line?.t !== this.name || !line.r) return null;
    const row: ColumnRow = {};
    for (const c of this.io.columns) {
      const named = c.databaseName in line.r ? line.r[c.databaseName] : line.r[c.propertyName];
      // A column the file does not have (written before it existed) gets its default, as an INSERT would give it.
      const v = named === undefined && !(c.databaseName in line.r) && !(c.propertyName in line.r) ? this.io.defaultFor(c) : named;
      const kind = kindOf(c);
      if (kind === 'instant' && typeof v === 'string') row[c.databaseName] = new Date(v);
      else if (kind === 'bytes' && v && typeof v === 'object' && typeof (v as { $bytes?: unknown }).$bytes === 'string') row[c.databaseName] = Buffer.from((v as { $bytes: string }).$bytes, 'base64');
      else row[c.databaseName] = v ?? null;
    }
    return row;
  }
}

/** A vector collection of any driver: scanned in id order, written in bulk. */
export class VectorCollection implements DataReader<VectorRecord>, DataWriter<VectorRecord> {
  readonly name: string;
  readonly label: string;

  constructor(readonly db: VectorDb) {
    this.name = db.collection;
    this.label = `${db.provider} collection "${db.collection}" at ${db.location}`;
  }

  count(): Promise<number> {
    return this.db.count();
  }

  async *pages(size: number, after?: string): AsyncGenerator<Page<VectorRecord>> {
    for await (const items of this.db.scan(size, after)) yield { items, cursor: items[items.length - 1].id, units: items.length };
  }

  idOf(r: VectorRecord): string {
    return r.id;
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
    let todo = items;
    if (mode !== 'overwrite' && items.length) {
      const present = new Set(await this.db.existingIds(items.map((r) => r.id)));
      if (present.size && mode === 'error') {
        throw new SwitchyardError('CONFLICT', `${present.size} of the vector ids being written are already in ${this.label} (e.g. ${JSON.stringify([...present][0])})`, { collection: this.name, present: present.size });
      }
      todo = items.filter((r) => !present.has(r.id));
    }
    await this.db.upsert(todo);
    return { written: todo.length, skipped: items.length - todo.length };
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

/** How one dataset's records become NDJSON lines and back. */
export interface LineCodec<T> {
  readonly name: string;
  encode(item: T): unknown;
  /** The record on this line, or null if the line is not one of this dataset's. */
  decode(value: unknown): T | null;
  idOf(item: T): string;
}

/** One dataset's records inside an export file, read in file order; the cursor is the last line read. */
export class NdjsonSection<T> implements DataReader<T> {
  readonly name: string;

  constructor(
    readonly file: string,
    private readonly codec: LineCodec<T>,
  ) {
    this.name = codec.name;
  }

  async count(): Promise<number> {
    let n = 0;
    for await (const { line, value } of readLines(this.file)) if (line > 1 && this.codec.decode(value)) n++;
    return n;
  }

  async *pages(size: number, after?: string): AsyncGenerator<Page<T>> {
    const skip = after === undefined ? 1 : Number(after);
    let items: T[] = [];
    let last = skip;
    for await (const { line, value } of readLines(this.file)) {
      if (line <= skip) continue;
      const item = this.codec.decode(value);
      if (!item) continue;
      items.push(item);
      last = line;
      if (items.length >= size) {
        yield { items, cursor: String(last), units: items.length };
        items = [];
      }
    }
    if (items.length) yield { items, cursor: String(last), units: items.length };
  }

  idOf(item: T): string {
    return this.codec.idOf(item);
  }

  encode(item: T): unknown {
    return this.codec.encode(item);
  }
}

/** Appends one dataset's records to an export file. */
export class NdjsonSink<T> implements DataWriter<T> {
  readonly name: string;
  readonly label: string;

  constructor(
    private readonly out: NdjsonWriter,
    private readonly codec: LineCodec<T>,
  ) {
    this.name = codec.name;
    this.label = `file ${out.file}`;
  }

  async count(): Promise<number> {
    return 0;
  }

  async existing(): Promise<number> {
    return 0;
  }

  validate(): string | null {
    return null;
  }

  async write(items: T[]): Promise<{ written: number; skipped: number }> {
    await this.out.write(items.map((i) => this.codec.encode(i)));
    return { written: items.length, skipped: 0 };
  }

  async clear(): Promise<void> {}
}

/**
 * The target's documents as the vector records the knowledge service would index them as: same chunker,
 * same chunk ids, same metadata. With `embeddings` every chunk is embedded (one model call per page,
 * overlapping the writing of the previous page); without, records carry no embedding (verification).
 */
export class ReindexSource implements DataReader<VectorRecord> {
  readonly name = 'documents';

  constructor(
    private readonly db: RelationalDb,
    private readonly vectors: VectorDb,
    private readonly chunk: ChunkFn,
    private readonly embeddings: Embeddings | null,
  ) {}

  count(): Promise<number> {
    return this.db.repository(DocumentEntity).count();
  }

  async *pages(size: number, after?: string): AsyncGenerator<Page<VectorRecord>> {
    for await (const docs of this.db.pages(DocumentEntity, size, after)) {
      const chunks = await Promise.all(docs.map((d) => this.chunk(d.content)));
      const items = docs.flatMap((d, i) => chunks[i].map((content, j) => this.record(d, j, content)));
      const embeddings = this.embeddings;
      if (embeddings) (await embeddings.embed(items.map((r) => r.content))).forEach((v, i) => (items[i].embedding = v));
      const commit = embeddings ? () => this.markIndexed(docs, chunks.map((c) => c.length), embeddings.model) : undefined;
      yield { items, cursor: docs[docs.length - 1].id, units: docs.length, commit };
    }
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
   * now, so the app's write wins.
   */
  private async markIndexed(docs: DocumentEntity[], counts: number[], model: string): Promise<void> {
    const indexedAt = new Date();
    const repo = new DocumentsRepository(this.db);
    for (const [i, d] of docs.entries()) {
      // Under the document's lock: an app write is either all before (its version is seen) or all after.
      await repo.withDocumentLock(d.userId, d.externalId, async () => {
        if (await repo.markIndexedAt(d.id, d.version, counts[i], model, indexedAt)) {
          await this.vectors.deleteIds(Array.from({ length: Math.max(0, d.chunkCount - counts[i]) }, (_, j) => chunkId(d.userId, d.externalId, counts[i] + j)));
        } else await this.redo(repo, d, Math.max(counts[i], d.chunkCount), model);
      });
    }
  }

  /** A document changed while this page was embedded: index what it holds now (or remove its chunks if it is gone). The caller holds its lock. */
  private async redo(repo: DocumentsRepository, read: DocumentEntity, written: number, model: string): Promise<void> {
    const embeddings = this.embeddings!;
    {
      const now = await repo.findOne(read.userId, read.externalId);
      if (!now) {
        await this.vectors.deleteByDocument(read.userId, read.externalId);
        return;
      }
      const texts = await this.chunk(now.content);
      const records = texts.map((content, j) => this.record(now, j, content));
      (await embeddings.embed(texts)).forEach((v, j) => (records[j].embedding = v));
      await this.vectors.upsert(records);
      const high = Math.max(written, now.chunkCount);
      await this.vectors.deleteIds(Array.from({ length: Math.max(0, high - texts.length) }, (_, j) => chunkId(now.userId, now.externalId, texts.length + j)));
      await repo.markIndexed(now.id, texts.length, model);
    }
  }
}
