import type { RowConflict } from '@switchyard/relational-db';
import { NdjsonWriter, readLines } from './ndjson';

/** One page read from a source: the records, where to resume after it, and how much progress it is. */
export interface Page<T> {
  items: T[];
  /** Opaque resume position: the last key read (or the last file line). */
  cursor: string;
  /** Progress units in this page (records; documents for a re-index). */
  units: number;
  /** Progress units the reader left alone because the target already holds them as they would be written (an incremental re-index). */
  unchanged?: number;
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

export { RelationalTable } from './relational-table';
export { VectorCollection } from './vector-collection';
export { ReindexSource } from './reindex-source';
