import { SwitchyardError, VectorDbConfig } from '@switchyard/core';
import Database from 'better-sqlite3';
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Parser as PickleParser } from 'pickleparser';
import { assertCollectionName } from '../identifiers';
import { compareIds, VectorDb } from '../vector-db.port';
import { StoredMeta, VectorMatch, VectorQuery, VectorRecord } from '../vector-db.types';
import { CHROMA_KEYS, CHROMA_META, embeddingOf, fromChroma } from './chroma-records';

type Config = Extract<VectorDbConfig, { provider: 'chromadb' }> & { persistDir: string };
/** An embedding_metadata row read raw: id, key, string_value, int_value, float_value, bool_value. */
type MetaRow = [number, string, string | null, number | null, number | null, number | null];

/** Chroma's queue operations (chromadb.types.Operation). */
const OP = { ADD: 0, UPDATE: 1, UPSERT: 2, DELETE: 3 } as const;
const DOCUMENT_KEY = 'chroma:document';
/** Ids per SQL statement (json_each of one parameter). */
const IDS_PER_READ = 1000;

/** hnswlib's element layout, from the segment's header.bin (hnswlib saveIndex order, behind a version int). */
interface HnswLayout {
  count: number;
  size: number;
  labelOffset: number;
  dataOffset: number;
  offsetLevel0: number;
}

function readHeader(file: string): HnswLayout {
  const b = readFileSync(file);
  // int32 persist version, then size_t offsetLevel0, max_elements, cur_element_count, size_data_per_element,
  // label_offset, offsetData (little-endian).
  const sz = (at: number) => Number(b.readBigUInt64LE(at));
  return { offsetLevel0: sz(4), count: sz(20), size: sz(28), labelOffset: sz(36), dataOffset: sz(44) };
}

/**
 * What Chroma's API returns for a vector it holds in a cosine index: chroma-hnswlib stores it scaled by
 * 1 / (|v| + 1e-30) in float32, and an index that keeps |v| (length.bin) gives back the stored vector
 * times |v|, an older one the unit vector. |v|² is summed as the server's x86-64 build sums it (four
 * SSE lanes, then the remainder): with that, every vector read equals the API's to the bit (tested at
 * 7, 10, 24 and 384 dimensions). Only vectors still in the queue need this; persisted ones are read as stored.
 */
function asStored(v: Float32Array, keepsLength: boolean): Float32Array {
  const f = Math.fround;
  const lanes = [0, 0, 0, 0];
  const body = v.length - (v.length % 4);
  for (let i = 0; i < body; i++) lanes[i % 4] = f(lanes[i % 4] + f(v[i] * v[i]));
  let sum = f(f(lanes[0] + lanes[2]) + f(lanes[1] + lanes[3]));
  for (let i = body; i < v.length; i++) sum = f(sum + f(v[i] * v[i]));
  const norm = f(Math.sqrt(sum));
  const inv = f(1 / f(norm + f(1e-30)));
  return v.map((x) => (keepsLength ? f(f(x * inv) * norm) : f(x * inv)));
}

/** A metadata value from Chroma's typed columns (one of them is set; booleans are stored as 0/1). */
function typedValue(str: string | null, int: number | null, float: number | null, bool: number | null): unknown {
  return str ?? int ?? float ?? (bool === null ? null : bool === 1);
}

/** Size and modification time of a file, or 'absent' (a journal comes and goes with each write). */
function stampOf(f: string): string {
  const s = statSync(f, { throwIfNoEntry: false });
  return s ? `${s.size}:${s.mtimeMs}` : 'absent';
}

/** Reads exactly `length` bytes at `position`, or fails naming the file (a truncated copy). */
function readExactly(fd: number, buf: Buffer, length: number, position: number, file: string): void {
  const n = readSync(fd, buf, 0, length, position);
  if (n !== length) throw new SwitchyardError('INTERNAL', `${file} is shorter than its header says (${n} of ${length} bytes at ${position}): the directory is incomplete; copy it again from the stopped server`, { file });
}

function seqOf(v: unknown): number {
  if (v === null || v === undefined) return -1;
  // Chroma 0.4 wrote seq ids as 8-byte big-endian blobs; later versions as integers.
  return Buffer.isBuffer(v) ? Number(v.readBigUInt64BE(0)) : Number(v);
}

/**
 * A Chroma collection read straight from a server's persist directory (`chroma.sqlite3` and the HNSW
 * segment files), without a server: the export an operator runs on a stopped Chroma, or beside an idle
 * one. Read-only, and only as a migration source (configuration refuses it for the app's own store).
 *
 * What it reads, as Chroma itself does on start-up: ids, documents and metadata from the SQLite metadata
 * segment; vectors from the HNSW segment's `data_level0.bin` (labels mapped to ids by
 * `index_metadata.pickle`), with the embeddings queue's entries newer than the segment's last persist
 * replayed on top. Records come out exactly as ChromaVectorDb reads them over HTTP (the same decoding,
 * the same exact-vector rule), which `chroma-persist.source.spec.ts` checks against a real server.
 *
 * Every read first checks that no file of the directory changed since it was opened: a server writing
 * into it meanwhile fails the read with CONFLICT instead of mixing two states.
 */
export class ChromaPersistVectorDb extends VectorDb {
  readonly provider = 'chromadb' as const;
  readonly location: string;
  private db?: Database.Database;
  private collectionId = '';
  private tenant = '';
  private database = '';
  private metadataSegment = '';
  /** id -> element index in data_level0.bin (live elements only). */
  private base = new Map<string, number>();
  /** Vectors from the queue newer than the HNSW persist: a vector, or null for deleted. */
  private pending = new Map<string, Float32Array | null>();
  private layout?: HnswLayout;
  private fd?: number;
  /** |v| of every element (length.bin), when the index keeps them: the API returns vectors at their length. */
  private lengths?: Float32Array;
  private cosine = true;
  private stamps = new Map<string, string>();
  /** SQLite's data_version of this connection at open: another connection's commit changes it. */
  private dataVersion = 0;

  constructor(private readonly config: Config) {
    super(config.collection, config.dimensions, null);
    assertCollectionName(this.provider, config.collection);
    this.location = `chroma persist directory ${config.persistDir}`;
  }

  /** Always read-only, whatever the caller asks; a failed open leaves no file handle behind. */
  override async init(options: { createIfMissing?: boolean } = {}): Promise<void> {
    try {
      await super.init({ ...options, createIfMissing: false });
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  protected async connect(): Promise<void> {
    const file = path.join(this.config.persistDir, 'chroma.sqlite3');
    try {
      accessSync(file, fsConstants.R_OK);
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === 'ENOENT' ? 'has no chroma.sqlite3' : `cannot be read (${code}: ${(e as Error).message})`;
      throw new SwitchyardError(code === 'ENOENT' ? 'NOT_FOUND' : 'CONFIG_INVALID', `${this.location} ${why}: point MIGRATION_<NAME>_VECTOR_DB_CHROMA_PERSIST_DIR at the directory a Chroma server was started with (--path), readable by this process`, { persistDir: this.config.persistDir });
    }
    this.db ??= new Database(file, { readonly: true, fileMustExist: true, timeout: this.config.timeoutMs ?? 10_000 });
    this.stamp(file, true);
    this.dataVersion = this.db.pragma('data_version', { simple: true }) as number;
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement of the open file, prepared once. */
  private stmt(sql: string): Database.Statement {
    if (!this.db) throw new SwitchyardError('INTERNAL', `${this.location} used before init()`);
    const known = this.statements.get(sql);
    if (known) return known;
    const st = this.db.prepare(sql);
    this.statements.set(sql, st);
    return st;
  }

  /** Remembers a file's stamp (for chroma.sqlite3 also its journal / WAL, which come and go with writes). */
  private stamp(file: string, withJournal = false): void {
    for (const f of withJournal ? [file, `${file}-wal`, `${file}-journal`] : [file]) this.stamps.set(f, stampOf(f));
  }

  /**
   * CONFLICT if the directory changed since init(): a commit by any other connection to chroma.sqlite3
   * (SQLite's data_version), or any file read changed size or time. Checked before and after every read,
   * so no read that overlapped a write is returned.
   */
  private assertUnchanged(): void {
    const changed = (what: string, file?: string) =>
      new SwitchyardError(
        'CONFLICT',
        `${this.location} changed while it was being read (${what}): a Chroma server is writing into it. Stop the server (or read a copy taken while it was stopped, or a filesystem snapshot; a copy of a running server's directory can mix two states), then start again.`,
        { file },
      );
    if (this.db && (this.db.pragma('data_version', { simple: true }) as number) !== this.dataVersion) throw changed('a commit to chroma.sqlite3');
    for (const [f, was] of this.stamps) if (stampOf(f) !== was) throw changed(path.basename(f), f);
  }

  /** `fn`, between two checks that the directory did not change. */
  private stable<T>(fn: () => T): T {
    this.assertUnchanged();
    const out = fn();
    this.assertUnchanged();
    return out;
  }

  protected async readMeta(): Promise<StoredMeta | null> {
    const coll = this
      .stmt(`SELECT c.id, c.dimension, c.config_json_str AS config, d.name AS db, d.tenant_id AS tenant FROM collections c JOIN databases d ON d.id = c.database_id WHERE c.name = ? AND d.name = 'default_database' AND d.tenant_id = 'default_tenant'`)
      .get(this.collection) as { id: string; dimension: number | null; config: string | null; db: string; tenant: string } | undefined;
    if (!coll) return null;
    Object.assign(this, { collectionId: coll.id, tenant: coll.tenant, database: coll.db });
    const md: Record<string, unknown> = {};
    const rows = this.stmt('SELECT key, str_value, int_value, float_value, bool_value FROM collection_metadata WHERE collection_id = ?').all(coll.id) as { key: string; str_value: string | null; int_value: number | null; float_value: number | null; bool_value: number | null }[];
    for (const r of rows) md[r.key] = typedValue(r.str_value, r.int_value, r.float_value, r.bool_value);
    let config: { vector_index?: { hnsw?: { space?: string } }; hnsw_configuration?: { space?: string }; hnsw?: { space?: string } } = {};
    try {
      config = coll.config ? JSON.parse(coll.config) : {};
    } catch {
      /* a configuration this reader does not know: fall back to the metadata */
    }
    const space = config.vector_index?.hnsw?.space ?? config.hnsw?.space ?? config.hnsw_configuration?.space ?? (md[CHROMA_META.metric] as string | undefined) ?? 'l2';
    this.cosine = space === 'cosine';
    const segments = this.stmt('SELECT s.id, s.scope, m.seq_id AS seq FROM segments s LEFT JOIN max_seq_id m ON m.segment_id = s.id WHERE s.collection = ?').all(coll.id) as { id: string; scope: string; seq: unknown }[];
    const meta = segments.find((s) => s.scope === 'METADATA');
    const vector = segments.find((s) => s.scope === 'VECTOR');
    if (!meta || !vector) throw new SwitchyardError('INTERNAL', `${this.location}: collection "${this.collection}" has no ${meta ? 'vector' : 'metadata'} segment; this reader knows Chroma's local (SQLite + HNSW) layout only`);
    this.metadataSegment = meta.id;
    const topic = `%/${coll.id}`;
    const last = seqOf((this.stmt('SELECT max(seq_id) AS s FROM embeddings_queue WHERE topic LIKE ?').get(topic) as { s: unknown }).s);
    if (last > seqOf(meta.seq)) {
      throw new SwitchyardError('CONFLICT', `${this.location}: collection "${this.collection}" has writes its metadata segment has not applied yet (queue at ${last}, segment at ${seqOf(meta.seq)}); start the Chroma server once and stop it cleanly, then read again`);
    }
    const pickled = this.loadVectors(path.join(this.config.persistDir, vector.id), coll.dimension ?? this.dimensions);
    // Which queued writes the HNSW files already hold: the segment's max_seq_id (Chroma 1.x), else the one
    // its pickle recorded (older layouts). Unknown with vectors on disk: replaying the queue over them could
    // undo writes (an UPDATE that missed, then an ADD), so that is refused rather than guessed.
    const persisted = seqOf(vector.seq) >= 0 ? seqOf(vector.seq) : pickled;
    if (persisted < 0 && this.base.size > 0) {
      throw new SwitchyardError('INTERNAL', `${this.location}: collection "${this.collection}" has HNSW files but no record of the last write they hold; start the Chroma server once and stop it cleanly, then read again`);
    }
    this.loadPending(topic, persisted, coll.dimension ?? this.dimensions);
    const dims = typeof md[CHROMA_META.dims] === 'number' ? (md[CHROMA_META.dims] as number) : (coll.dimension ?? this.dimensions);
    // Nothing committed or rewritten while the segments and queue were read.
    this.assertUnchanged();
    return { dimensions: dims, model: typeof md[CHROMA_META.model] === 'string' ? (md[CHROMA_META.model] as string) : null, metric: space };
  }

  /**
   * Maps every live element of the persisted HNSW index to its id (no segment files yet: none persisted).
   * Returns the last queue position the pickle says the files hold, or -1.
   */
  private loadVectors(dir: string, dims: number): number {
    const files = ['header.bin', 'data_level0.bin', 'index_metadata.pickle'].map((f) => path.join(dir, f));
    if (!files.every(existsSync)) return -1;
    for (const f of files) this.stamp(f);
    const layout = readHeader(files[0]);
    if ((layout.labelOffset - layout.dataOffset) / 4 !== dims) {
      throw new SwitchyardError('INTERNAL', `${this.location}: the HNSW segment holds ${(layout.labelOffset - layout.dataOffset) / 4}-dimensional vectors, the collection says ${dims}`);
    }
    const labels = new PickleParser().parse(readFileSync(files[2])) as { label_to_id?: Record<string, string>; max_seq_id?: number | null };
    const labelToId = labels.label_to_id ?? {};
    this.layout = layout;
    this.fd = openSync(files[1], 'r');
    // Only a cosine index keeps each vector's length (it stores unit vectors); l2 / ip store them as given.
    const lengthFile = path.join(dir, 'length.bin');
    if (this.cosine && existsSync(lengthFile)) {
      this.stamp(lengthFile);
      const b = readFileSync(lengthFile);
      this.lengths = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + Math.min(b.byteLength, layout.count * 4)));
    }
    const perRead = Math.max(1, Math.floor((4 << 20) / layout.size));
    const buf = Buffer.alloc(perRead * layout.size);
    for (let first = 0; first < layout.count; first += perRead) {
      const n = Math.min(perRead, layout.count - first);
      readExactly(this.fd, buf, n * layout.size, layout.offsetLevel0 + first * layout.size, files[1]);
      for (let i = 0; i < n; i++) {
        const at = i * layout.size;
        // hnswlib marks a deleted element in the third byte of its level-0 link count.
        if (buf[at + 2] & 1) continue;
        const id = labelToId[String(buf.readBigUInt64LE(at + layout.labelOffset))];
        if (id !== undefined) this.base.set(id, first + i);
      }
    }
    return typeof labels.max_seq_id === 'number' ? labels.max_seq_id : -1;
  }

  /** The queue's vector operations after the HNSW segment's last persist, in order. */
  private loadPending(topic: string, after: number, dims: number): void {
    const rows = this.stmt('SELECT seq_id, operation, id, vector, encoding FROM embeddings_queue WHERE topic LIKE ? AND seq_id > ? ORDER BY seq_id').all(topic, after) as { operation: number; id: string; vector: Buffer | null; encoding: string | null }[];
    for (const r of rows) {
      const exists = this.pending.has(r.id) ? this.pending.get(r.id) !== null : this.base.has(r.id);
      if (r.operation === OP.DELETE) {
        this.pending.set(r.id, null);
        continue;
      }
      if (!r.vector || (r.operation === OP.ADD && exists) || (r.operation === OP.UPDATE && !exists)) continue;
      if (r.encoding !== 'FLOAT32' || r.vector.length !== dims * 4) {
        throw new SwitchyardError('INTERNAL', `${this.location}: queued vector of ${JSON.stringify(r.id)} is ${r.encoding} of ${r.vector.length} bytes; expected FLOAT32 x ${dims}`);
      }
      const v = new Float32Array(r.vector.buffer.slice(r.vector.byteOffset, r.vector.byteOffset + r.vector.byteLength));
      // Without segment files yet, assume the current layout (lengths kept); an index without length.bin returns unit vectors.
      this.pending.set(r.id, this.cosine ? asStored(v, !this.layout || !!this.lengths) : v);
    }
  }

  /** The vector Chroma holds for an id (as its API returns it), or null. */
  private vectorOf(id: string): Float32Array | null {
    if (this.pending.has(id)) return this.pending.get(id)!;
    const at = this.base.get(id);
    if (at === undefined || !this.layout || this.fd === undefined) return null;
    const n = (this.layout.labelOffset - this.layout.dataOffset) / 4;
    const buf = Buffer.alloc(n * 4);
    readExactly(this.fd, buf, n * 4, this.layout.offsetLevel0 + at * this.layout.size + this.layout.dataOffset, 'data_level0.bin');
    const v = new Float32Array(buf.buffer, buf.byteOffset, n).slice();
    const length = this.cosine ? this.lengths?.[at] : undefined;
    if (length !== undefined) for (let i = 0; i < n; i++) v[i] = Math.fround(v[i] * length);
    return v;
  }

  /** Full records of metadata-segment rows, in the order given. */
  private build(rows: { rid: number; eid: string }[]): VectorRecord[] {
    const byRow = new Map<number, Record<string, unknown>>();
    const docs = new Map<number, string>();
    for (let i = 0; i < rows.length; i += IDS_PER_READ) {
      const part = JSON.stringify(rows.slice(i, i + IDS_PER_READ).map((r) => r.rid));
      // Rows as arrays (raw): half the cost of one object per metadata row.
      const st = this.stmt('SELECT id, key, string_value, int_value, float_value, bool_value FROM embedding_metadata WHERE id IN (SELECT value FROM json_each(?))');
      for (const [id, key, str, int, float, bool] of st.raw(true).all(part) as MetaRow[]) {
        if (key === DOCUMENT_KEY) {
          docs.set(id, str ?? '');
          continue;
        }
        const md = byRow.get(id) ?? {};
        md[key] = typedValue(str, int, float, bool);
        byRow.set(id, md);
      }
    }
    return rows.map(({ rid, eid }) => {
      const md = byRow.get(rid) ?? null;
      const stored = this.vectorOf(eid);
      if (!stored) throw new SwitchyardError('INTERNAL', `${this.location}: record ${JSON.stringify(eid)} has metadata but no vector in the HNSW segment or the queue`, { id: eid });
      return { ...fromChroma(eid, docs.get(rid) ?? null, md), embedding: embeddingOf(md, stored) };
    });
  }

  private rowsOf(ids: string[]): { rid: number; eid: string }[] {
    const out: { rid: number; eid: string }[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_READ) {
      out.push(...(this.stmt('SELECT id AS rid, embedding_id AS eid FROM embeddings WHERE segment_id = ? AND embedding_id IN (SELECT value FROM json_each(?))').all(this.metadataSegment, JSON.stringify(ids.slice(i, i + IDS_PER_READ))) as { rid: number; eid: string }[]));
    }
    return out;
  }

  /**
   * Rows whose Switchyard user (and document) keys match, found through Chroma's (key, string_value)
   * index (CROSS JOIN fixes that order: without statistics SQLite would scan the whole segment instead).
   */
  private rowsWhere(filter: { userId?: string; documentId?: string }): { rid: number; eid: string }[] {
    const keys = [...(filter.userId !== undefined ? [[CHROMA_KEYS.user, filter.userId]] : []), ...(filter.documentId !== undefined ? [[CHROMA_KEYS.doc, filter.documentId]] : [])];
    const more = keys.slice(1).map((_, i) => `CROSS JOIN embedding_metadata m${i + 1} ON m${i + 1}.id = m0.id AND m${i + 1}.key = ? AND m${i + 1}.string_value = ?`).join(' ');
    return this.stmt(`SELECT e.id AS rid, e.embedding_id AS eid FROM embedding_metadata m0 ${more} CROSS JOIN embeddings e ON e.id = m0.id WHERE m0.key = ? AND m0.string_value = ? AND e.segment_id = ? ORDER BY e.embedding_id`).all(
      ...keys.slice(1).flat(),
      ...keys[0],
      this.metadataSegment,
    ) as { rid: number; eid: string }[];
  }

  private pageRows(limit: number, after: string | undefined): { rid: number; eid: string }[] {
    return this.stmt(`SELECT id AS rid, embedding_id AS eid FROM embeddings WHERE segment_id = ? ${after === undefined ? '' : 'AND embedding_id > ?'} ORDER BY embedding_id LIMIT ?`).all(
      ...(after === undefined ? [this.metadataSegment, limit] : [this.metadataSegment, after, limit]),
    ) as { rid: number; eid: string }[];
  }

  protected async doPage(limit: number, after: string | undefined): Promise<VectorRecord[]> {
    return this.stable(() => this.build(this.pageRows(limit, after)));
  }

  protected override async doIdPage(limit: number, after: string | undefined): Promise<string[]> {
    return this.stable(() => this.pageRows(limit, after).map((r) => r.eid));
  }

  protected async doRecords(ids: string[]): Promise<VectorRecord[]> {
    return this.stable(() => this.build(this.rowsOf(ids)));
  }

  protected async doExistingIds(ids: string[]): Promise<string[]> {
    return this.stable(() => this.rowsOf(ids).map((r) => r.eid));
  }

  protected async doDocumentRecords(userId: string, documentId: string): Promise<VectorRecord[]> {
    return this.stable(() => this.build(this.rowsWhere({ userId, documentId })));
  }

  protected async doCount(filter: { userId?: string; documentId?: string }): Promise<number> {
    return this.stable(() =>
      filter.userId === undefined && filter.documentId === undefined ? (this.stmt('SELECT count(*) AS n FROM embeddings WHERE segment_id = ?').get(this.metadataSegment) as { n: number }).n : this.rowsWhere(filter).length,
    );
  }

  /** Exact cosine k-NN over the user's vectors (a source is queried only to compare recall); records built for the k best only. */
  protected async doQuery(embedding: Float32Array, q: VectorQuery): Promise<VectorMatch[]> {
    const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    const qn = norm(embedding);
    return this.stable(() => {
      const scored = this.rowsWhere(q).map((row) => {
        const e = this.vectorOf(row.eid);
        let dot = 0;
        for (let i = 0; e && i < e.length; i++) dot += e[i] * embedding[i];
        const score = e && qn > 0 && norm(e) > 0 ? dot / (qn * norm(e)) : 0;
        return { row, distance: 1 - score };
      });
      const best = scored.sort((a, b) => a.distance - b.distance || compareIds(a.row.eid, b.row.eid)).slice(0, q.k);
      return this.build(best.map((b) => b.row)).map(({ embedding: _e, ...r }, i) => ({ ...r, distance: best[i].distance, score: 1 - best[i].distance }));
    });
  }

  /** The same identity as ChromaVectorDb gives the collection through its server. */
  async identity(): Promise<string> {
    if (!this.collectionId) throw new SwitchyardError('NOT_FOUND', `chromadb collection "${this.collection}" does not exist at ${this.location}`, { provider: this.provider, collection: this.collection });
    return `chromadb:${this.tenant}:${this.database}:${this.collectionId}`;
  }

  private refused(): never {
    throw new SwitchyardError('INTERNAL', `${this.location} is read as a migration source only; it is never written`, { provider: this.provider, collection: this.collection });
  }
  protected async create(): Promise<void> {
    this.refused();
  }
  protected async writeMeta(): Promise<void> {
    this.refused();
  }
  protected async drop(): Promise<void> {
    this.refused();
  }
  protected async doUpsert(): Promise<void> {
    this.refused();
  }
  protected async doDeleteByDocument(): Promise<number> {
    this.refused();
  }
  protected async doDeleteIds(): Promise<void> {
    this.refused();
  }
  sibling(): VectorDb {
    this.refused();
  }

  async ping(): Promise<boolean> {
    return !!this.db && existsSync(path.join(this.config.persistDir, 'chroma.sqlite3'));
  }

  async close(): Promise<void> {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.statements.clear();
    this.db?.close();
    this.db = undefined;
  }
}
